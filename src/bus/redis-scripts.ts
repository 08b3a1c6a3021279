/**
 * The Lua scripts of the Redis bus and presence, and the helpers that run them. Each script is
 * one atomic step, so two nodes racing on the same user or conversation never see a half-done
 * update. Keys a script learns while running (other nodes' alive keys, users' node sets) are
 * built from `head .. id .. tail` patterns passed in ARGV (names.ts owns the names). Those
 * presence scripts therefore assume one Redis (not Cluster); the bus's order gate keeps all its
 * KEYS in one hash slot.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Log as CoreLog } from '../core/log.js';

/** The slice of the core's logger the Redis adapters use. */
export type Log = Pick<CoreLog, 'info' | 'warn'>;

/** Default logger: says nothing. */
export const silentLog: Log = { info() {}, warn() {} };

export interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * Runs a script by its SHA, loading it on NOSCRIPT (a restarted Redis forgets scripts). Fails at
 * once when the client is not connected, so nothing waits in ioredis's offline queue even when a
 * caller's client has one.
 *
 * The EVAL after a NOSCRIPT is sent only when that reply arrives, so commands sent meanwhile on
 * the connection run before it. That is harmless for scripts whose arguments stay true whenever
 * they run (one user's ADD or REMOVE, which the core serializes per user and awaits; the order
 * gate, which exists to sort out reordering). A script carrying a snapshot of local state must
 * not run late: use {@link evalScript} for it.
 */
export async function runScript(redis: Redis, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(s.lua, keys.length, ...keys, ...args);
  }
}

/**
 * Runs a script with plain EVAL: one command, so it runs exactly where it was sent among the
 * connection's commands, and answers in that order. For scripts that carry a snapshot
 * (PRESENCE_REGISTER's list of held users), where a NOSCRIPT retry would let a newer ADD or REMOVE
 * run first and then overwrite it; and for PRESENCE_NODES_HOLDING, whose answers must come in the
 * order they were asked (a retried call would answer after the next tick's). Simpler than loading
 * every script on 'ready' before anything else is sent, which would need every user of the shared
 * client to wait for it. Costs the script's bytes on each call (for PRESENCE_NODES_HOLDING, no
 * difference measured in the event loop's or Redis's CPU against EVALSHA).
 */
export async function evalScript(redis: Redis, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
  return redis.eval(s.lua, keys.length, ...keys, ...args);
}

// ---- presence -------------------------------------------------------------------------------
// ARGV conventions: alive pattern head/tail, user-nodes pattern head/tail as noted per script.

/**
 * Whether node n's lease is live. A script asks about the same few nodes for every user it
 * touches, so each node's answer is read once per call: no script writes another node's lease,
 * and those that write their own do so before they ask.
 */
const IS_ALIVE = `
local alive_known = {}
local function alive(n, head, tail)
  local a = alive_known[n]
  if a == nil then a = redis.call('EXISTS', head .. n .. tail) == 1; alive_known[n] = a end
  return a
end
`;

/**
 * KEYS: nodeUsers(me), nodeLost(me). ARGV: me, aliveHead, aliveTail, userNodesHead, userNodesTail,
 * user... (the adds of one turn: presence/redis.ts). Returns, per user in order, 1 when no other
 * live node held them. Drops dead nodes' stale entries for each user, so their reaper does not
 * report the user lost. The caller announces the users that came online, so a later
 * PRESENCE_REGISTER must not report them found again.
 */
export const PRESENCE_ADD = script(`${IS_ALIVE}
local out = {}
for i = 6, #ARGV do
  local u, key = ARGV[i], ARGV[4] .. ARGV[i] .. ARGV[5]
  redis.call('SADD', KEYS[1], u)
  redis.call('SREM', KEYS[2], u)
  local held = 0
  for _, n in ipairs(redis.call('SMEMBERS', key)) do
    if n ~= ARGV[1] then
      if alive(n, ARGV[2], ARGV[3]) then held = 1 else redis.call('SREM', key, n) end
    end
  end
  redis.call('SADD', key, ARGV[1])
  out[#out + 1] = 1 - held
end
return out`);

/**
 * KEYS: nodeUsers(me). ARGV: me, aliveHead, aliveTail, userNodesHead, userNodesTail, user... (the
 * removes of one turn). Returns, per user in order, 1 when no live node holds them now; then the
 * user's set is deleted (it holds only dead nodes), so a later reap of those does not report the
 * user lost a second time.
 */
export const PRESENCE_REMOVE = script(`${IS_ALIVE}
local out = {}
for i = 6, #ARGV do
  local u, key = ARGV[i], ARGV[4] .. ARGV[i] .. ARGV[5]
  redis.call('SREM', KEYS[1], u)
  redis.call('SREM', key, ARGV[1])
  local gone = 1
  for _, n in ipairs(redis.call('SMEMBERS', key)) do
    if alive(n, ARGV[2], ARGV[3]) then gone = 0; break end
  end
  if gone == 1 then redis.call('DEL', key) end
  out[#out + 1] = gone
end
return out`);

/**
 * KEYS: userNodes(u) for each user (the users of one turn's asks: presence/redis.ts). ARGV:
 * aliveHead, aliveTail. Returns the 1-based indexes of users some live node holds.
 */
export const PRESENCE_ONLINE = script(`${IS_ALIVE}
local out = {}
for i, key in ipairs(KEYS) do
  for _, n in ipairs(redis.call('SMEMBERS', key)) do
    if alive(n, ARGV[1], ARGV[2]) then out[#out + 1] = i; break end
  end
end
return out`);

/**
 * KEYS: none: the users' keys are built from their pattern, so this needs one Redis, not Cluster
 * (a SUNION of them does too: they span slots). ARGV: userNodesHead, userNodesTail, then one ask
 * per entry, its user ids joined by ',' (ids are decimal strings, spec §2). Returns, per ask, the
 * ids of the nodes holding any of its users, as SUNION of their node sets does. The asks of a tick
 * go in one call (presence/nodes-holding.ts). An argument per ask rather than a key per user costs
 * the event loop less, since ioredis encodes each argument apart (measured: 9–10 µs per ask against
 * 10–11.5 with the users' keys in KEYS). unpack() is bounded by Lua's stack (8000 values), so a
 * large ask (a notification's 10,000 users) goes to SUNION in chunks.
 */
export const PRESENCE_NODES_HOLDING = script(`
local out = {}
for a = 3, #ARGV do
  local keys = {}
  for id in string.gmatch(ARGV[a], '[^,]+') do keys[#keys + 1] = ARGV[1] .. id .. ARGV[2] end
  local nodes = redis.call('SUNION', unpack(keys, 1, math.min(1000, #keys)))
  if #keys > 1000 then
    local seen = {}
    for _, n in ipairs(nodes) do seen[n] = true end
    for i = 1001, #keys, 1000 do
      for _, n in ipairs(redis.call('SUNION', unpack(keys, i, math.min(i + 999, #keys)))) do
        if not seen[n] then seen[n] = true; nodes[#nodes + 1] = n end
      end
    end
  end
  out[a - 2] = nodes
end
return out`);

/**
 * KEYS: alive(me), nodes. ARGV: me, leaseMs, aliveHead, aliveTail.
 * Refreshes the lease. Returns {existed, deadNodeId...}: existed = 0 means the lease had lapsed
 * (Redis restarted, or this node stalled and may have been reaped) and the node must re-register.
 * A node whose own lease lapsed reports no dead nodes: when Redis was unreachable (or frozen)
 * longer than the lease, every lease lapsed, and the other nodes are alive and about to renew;
 * reaping them would send USER_LEFT for users still connected. Their next beats decide.
 */
export const PRESENCE_HEARTBEAT = script(`${IS_ALIVE}
local out = { redis.call('EXISTS', KEYS[1]) }
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if out[1] == 0 then return out end
for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if n ~= ARGV[1] and not alive(n, ARGV[3], ARGV[4]) then out[#out + 1] = n end
end
return out`);

/**
 * KEYS: nodes, nodeUsers(dead), reapLock(dead), alive(dead), nodeLost(dead).
 * ARGV: dead, lockMs, aliveHead, aliveTail, userNodesHead, userNodesTail, lostTtlMs.
 * Removes a dead node's entries and returns the users no live node holds any more. A user is
 * reported only by the reap that removed its entry (SREM = 1), and its set is then deleted, so a
 * user held by two dead nodes is reported once. The lock keeps other survivors from scanning the
 * same node again while this one works. The reported users are also kept in nodeLost(dead): if
 * the node was only stalled, PRESENCE_REGISTER finds them there and it announces them again.
 */
export const PRESENCE_REAP = script(`${IS_ALIVE}
if redis.call('EXISTS', KEYS[4]) == 1 then return {} end
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[2]) then return {} end
local lost = {}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[5] .. u .. ARGV[6]
  if redis.call('SREM', key, ARGV[1]) == 1 then
    local held = false
    for _, n in ipairs(redis.call('SMEMBERS', key)) do
      if alive(n, ARGV[3], ARGV[4]) then held = true; break end
    end
    if not held then redis.call('DEL', key); redis.call('SADD', KEYS[5], u); lost[#lost + 1] = u end
  end
end
if #lost > 0 then redis.call('PEXPIRE', KEYS[5], ARGV[7]) end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[1])
return lost`);

/**
 * KEYS: nodes, nodeUsers(me), alive(me), nodeLost(me).
 * ARGV: me, leaseMs, userNodesHead, userNodesTail, aliveHead, aliveTail, nodesChannel, user...
 * Announces the node on nodesChannel (`{"joined": me}`), so a node that counts itself alone stops
 * (bus/solo.ts). Makes Redis match this node's local truth (at start, or after an outage): drops entries of users
 * it no longer holds, then (re)writes both directions for the users it holds. Returns {lost, found}.
 * lost: the dropped users no live node holds: they went offline unannounced (a previous
 * incarnation of this NODE_ID died and was restarted before its lease ran out, so no survivor
 * reaps it; or they left while Redis was unreachable). Their sets are deleted, as in
 * PRESENCE_REAP, so they are reported once. found: held users that a survivor reaped from this
 * node (nodeLost: their friends heard USER_LEFT) and that no other live node holds, so nobody has
 * announced them since. A Redis that lost its keys has no nodeLost, so it finds nobody.
 */
export const PRESENCE_REGISTER = script(`${IS_ALIVE}
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[7], cjson.encode({ joined = ARGV[1] }))
local want, lost = {}, {}
for i = 8, #ARGV do want[ARGV[i]] = true end
for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not want[u] then
    local key = ARGV[3] .. u .. ARGV[4]
    redis.call('SREM', key, ARGV[1])
    local held = false
    for _, n in ipairs(redis.call('SMEMBERS', key)) do
      if alive(n, ARGV[5], ARGV[6]) then held = true; break end
    end
    if not held then redis.call('DEL', key); lost[#lost + 1] = u end
  end
end
redis.call('DEL', KEYS[2])
local found = {}
for i = 8, #ARGV do
  local key = ARGV[3] .. ARGV[i] .. ARGV[4]
  if redis.call('SISMEMBER', KEYS[4], ARGV[i]) == 1 then
    local held = false
    for _, n in ipairs(redis.call('SMEMBERS', key)) do
      if n ~= ARGV[1] and alive(n, ARGV[5], ARGV[6]) then held = true; break end
    end
    if not held then found[#found + 1] = ARGV[i] end
  end
  redis.call('SADD', KEYS[2], ARGV[i])
  redis.call('SADD', key, ARGV[1])
end
redis.call('DEL', KEYS[4])
return { lost, found }`);

/**
 * KEYS: nodes, solo. ARGV: me, holder (`<me> <token>`), ttlMs, nodesChannel.
 * The claim of a node that may count itself alone (bus/solo.ts): it succeeds only while `nodes`
 * holds this node and no other. Returns 'claimed' when it took the claim and published the barrier
 * (`{"solo": me, "holder": holder}`, after everything Redis ran before it), 'held' when it only
 * renewed its own claim, and 'shared' when another node is registered (the claim is dropped).
 */
export const SOLO_CLAIM = script(`
if redis.call('SCARD', KEYS[1]) == 1 and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  if redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
    return 'held'
  end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('PUBLISH', ARGV[4], cjson.encode({ solo = ARGV[1], holder = ARGV[2] }))
  return 'claimed'
end
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 'shared'`);

/** KEYS: solo. ARGV: holder. Drops the claim if this holder has it. */
export const SOLO_RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`);

/** KEYS: nodes, nodeUsers(me), alive(me), nodeLost(me). ARGV: me, userNodesHead, userNodesTail. A graceful leave. */
export const PRESENCE_LEAVE = script(`
for _, u in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('SREM', ARGV[2] .. u .. ARGV[3], ARGV[1])
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('SREM', KEYS[1], ARGV[1])
return 1`);

// ---- bus order gate (see the comment at the top of redis.ts) -------------------------------
// KEYS: conversationSeq, conversationPending (one slot). Ids are decimal strings without leading
// zeros, compared by length then text, so ids beyond 2^53 still compare exactly.

const GATE_LIB = `
local function before(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function send(env, chans)
  for _, ch in ipairs(chans) do redis.call('PUBLISH', ch, env) end
end
local function drain(last)
  while true do
    local p = redis.call('HGET', KEYS[2], last)
    if not p then return last end
    redis.call('HDEL', KEYS[2], last)
    local d = cjson.decode(p)
    send(d.e, d.c)
    last = d.id
  end
end
local function advance(seq, last, ttl)
  if not seq or before(seq, last) then redis.call('SET', KEYS[1], last, 'PX', ttl) end
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
`;

/**
 * ARGV: messageId, prevId ('' for none), prevInFlight ('1' or '0'), idleTtlMs, envelope, channel...
 * Returns 'published', 'late' (already past seq: published, seq kept) or 'parked'. Without a seq
 * (first use, idle expiry, Redis restart) a message whose predecessor was stored moments ago is
 * parked too: that predecessor may be a publish still on its way from another node.
 */
export const GATE_PUBLISH = script(`${GATE_LIB}
local id, prev, inflight, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local chans = {}
for i = 6, #ARGV do chans[#chans + 1] = ARGV[i] end
local seq = redis.call('GET', KEYS[1])
if prev ~= '' and ((seq and before(seq, prev)) or (not seq and inflight == '1')) then
  redis.call('HSET', KEYS[2], prev, cjson.encode({ id = id, e = ARGV[5], c = chans }))
  redis.call('PEXPIRE', KEYS[2], ttl)
  return 'parked'
end
send(ARGV[5], chans)
if seq and not before(seq, id) then return 'late' end
advance(seq, drain(id), ttl)
return 'published'`);

/**
 * ARGV: messageId, prevId, idleTtlMs. Publishes a message still parked after orderWaitMs, first
 * releasing (in id order) any parked message older than it whose own publisher may have died,
 * then drains the chain after it. Returns 'forced', or 'gone' when it was released meanwhile.
 */
export const GATE_FORCE = script(`${GATE_LIB}
local id, prev, ttl = ARGV[1], ARGV[2], ARGV[3]
local mine = redis.call('HGET', KEYS[2], prev)
if not mine or cjson.decode(mine).id ~= id then return 'gone' end
local all, earlier = redis.call('HGETALL', KEYS[2]), {}
for i = 1, #all, 2 do
  local d = cjson.decode(all[i + 1])
  if before(d.id, id) then d.k = all[i]; earlier[#earlier + 1] = d end
end
table.sort(earlier, function(a, b) return before(a.id, b.id) end)
for _, d in ipairs(earlier) do redis.call('HDEL', KEYS[2], d.k); send(d.e, d.c) end
local d = cjson.decode(mine)
redis.call('HDEL', KEYS[2], prev)
send(d.e, d.c)
advance(redis.call('GET', KEYS[1]), drain(id), ttl)
return 'forced'`);

/**
 * KEYS: conversationSeq and conversationPending of each conversation, in pairs. ARGV: idleTtlMs,
 * then one messageId per pair. Messages this node handed over directly (redis.ts, LOCAL EVENTS),
 * one call for all the conversations of a tick: each seq moves on to its message (never back), and
 * whatever was parked waiting for it is published. Its KEYS span slots: one Redis, as for presence.
 */
export const GATE_ADVANCE = script(`
local function before(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local ttl = ARGV[1]
for i = 1, #KEYS / 2 do
  local seqKey, pendingKey, last = KEYS[2 * i - 1], KEYS[2 * i], ARGV[i + 1]
  while true do
    local p = redis.call('HGET', pendingKey, last)
    if not p then break end
    redis.call('HDEL', pendingKey, last)
    local d = cjson.decode(p)
    for _, ch in ipairs(d.c) do redis.call('PUBLISH', ch, d.e) end
    last = d.id
  end
  local seq = redis.call('GET', seqKey)
  if not seq or before(seq, last) then redis.call('SET', seqKey, last, 'PX', ttl) end
  if redis.call('EXISTS', pendingKey) == 1 then redis.call('PEXPIRE', pendingKey, ttl) end
end
return 1`);
