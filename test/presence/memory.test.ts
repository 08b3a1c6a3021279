import { MemoryPresence } from '../../src/presence/memory.js';
import { presenceContract } from '../contracts/presence.js';

presenceContract('MemoryPresence', async () => {
  const presence = new MemoryPresence();
  return { presence, close: () => presence.close() };
});
