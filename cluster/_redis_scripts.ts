/**
 * The Lua scripts of the Redis coordinator. Each runs atomically in Redis; together they are the
 * whole protocol. Keys (under a prefix `P`, default `jamsocket:`):
 *
 * | key            | type   | value                                                 | TTL           |
 * | -------------- | ------ | ----------------------------------------------------- | ------------- |
 * | `P node:{id}`  | hash   | link, http, rooms, clients, draining, readyAt (ms)    | the lease     |
 * | `P nodes`      | zset   | node id → lease expiry (Redis ms)                     | 2 × the lease |
 * | `P room:{id}`  | string | `"{node} {fence}"`                                    | room TTL      |
 * | `P fence:{id}` | string | the room's last fencing token                         | fence TTL     |
 *
 * A room record counts only while `P node:{node}` exists, so listings and ownership derive from
 * leases; the room TTL only collects records that nobody released. Fencing tokens are
 * `max(previous + 1, Redis TIME in µs)`: monotonic per room while Redis keeps its keys, and still
 * increasing after it forgot them (unless its clock went back).
 *
 * @module
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const LIST_NODES = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. 'node:' .. id, 'link', 'http', 'rooms', 'clients', 'draining', 'readyAt')
  if f[1] then
    out[#out + 1] = id
    for i = 1, 5 do out[#out + 1] = f[i] end
    out[#out + 1] = tostring(math.max(0, tonumber(f[6]) - now))
  end
end
return out`;

const SET_NODE = `
redis.call('HSET', KEYS[1], 'link', ARGV[4], 'http', ARGV[5], 'rooms', ARGV[6], 'clients', ARGV[7], 'draining', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
if redis.call('PTTL', KEYS[2]) < 2 * tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[3])) end`;

/** KEYS: node, nodes. ARGV: prefix, id, lease ms, link, http, rooms, clients, draining. */
export const REGISTER = `${NOW}
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('node id taken') end
redis.call('HSET', KEYS[1], 'readyAt', now + tonumber(ARGV[3]))
${SET_NODE}
return 1`;

/**
 * KEYS: node, nodes. ARGV: as REGISTER. Renews only a lease that still exists: a node that
 * resumes after its lease ran out gets 0 and must fence itself. Returns 0, or the live nodes as
 * REGISTER's fields plus readyIn ms, flattened.
 */
export const RENEW = `${NOW}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
${SET_NODE}
${LIST_NODES}`;

/** KEYS: (unused), nodes. ARGV: prefix. The live nodes, as RENEW lists them. */
export const NODES = `${NOW}
${LIST_NODES}`;

/** KEYS: node, nodes. ARGV: id. */
export const UNREGISTER = `redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`;

/** KEYS: room. ARGV: prefix. The record `"{node} {fence}"` if its node's lease lives. */
export const LOOKUP = `local v = redis.call('GET', KEYS[1])
if not v then return false end
local sp = string.find(v, ' ', 1, true)
if redis.call('EXISTS', ARGV[1] .. 'node:' .. string.sub(v, 1, sp - 1)) == 0 then return false end
return v`;

const newFence = (ttl: string) => `
local fence = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), prev) + 1
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
if us > fence then fence = us end
local fs = string.format('%.0f', fence)
redis.call('SET', KEYS[2], fs, 'PX', ${ttl})`;

/**
 * KEYS: room, fence. ARGV: prefix, node, mode (`join` | `exclusive`), room TTL, fence TTL.
 * Returns `{1, fence}` (acquired), `{0, owner, fence}` (owned), or `{-1, retry ms}` (this node
 * lost its lease, or is within its first lease period).
 */
export const ACQUIRE = `${NOW}
local ready = redis.call('HGET', ARGV[1] .. 'node:' .. ARGV[2], 'readyAt')
if not ready then return {-1, '0'} end
if tonumber(ready) > now then return {-1, tostring(tonumber(ready) - now)} end
local v = redis.call('GET', KEYS[1])
local prev = 0
if v then
  local sp = string.find(v, ' ', 1, true)
  local node = string.sub(v, 1, sp - 1)
  prev = tonumber(string.sub(v, sp + 1))
  if node ~= ARGV[2] then
    if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 1 then return {0, node, string.sub(v, sp + 1)} end
  elseif ARGV[3] == 'exclusive' then
    return {0, node, string.sub(v, sp + 1)}
  end
end
${newFence("ARGV[5]")}
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. fs, 'PX', ARGV[4])
return {1, fs}`;

/**
 * KEYS: the rooms. ARGV: node, room TTL, then each room's fence. Extends the records that still
 * name this node and token; returns the 1-based indexes of those that do not.
 */
export const REFRESH = `local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] .. ' ' .. ARGV[i + 2] then
    redis.call('PEXPIRE', key, ARGV[2])
  else
    lost[#lost + 1] = i
  end
end
return lost`;

/** KEYS: room. ARGV: node, fence. Deletes the record if it is still this claim. */
export const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] .. ' ' .. ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

/**
 * KEYS: room, fence. ARGV: prefix, from, fence, to, room TTL, fence TTL. Hands the room to a live
 * node with a new token, if `from` still owns it with `fence`; returns the token or false.
 */
export const TRANSFER = `${NOW}
if redis.call('GET', KEYS[1]) ~= ARGV[2] .. ' ' .. ARGV[3] then return false end
if redis.call('EXISTS', ARGV[1] .. 'node:' .. ARGV[4]) == 0 then return false end
local prev = tonumber(ARGV[3])
${newFence("ARGV[6]")}
redis.call('SET', KEYS[1], ARGV[4] .. ' ' .. fs, 'PX', ARGV[5])
return fs`;
