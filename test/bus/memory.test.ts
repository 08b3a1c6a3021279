import { MemoryBus } from '../../src/bus/memory.js';
import { busContract } from '../contracts/bus.js';

busContract('MemoryBus', async () => {
  const bus = new MemoryBus();
  return { bus, nodeId: 'local', hold: async () => {}, close: () => bus.close() };
});
