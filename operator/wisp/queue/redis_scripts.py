"""Lua scripts for the steps that must be atomic in Redis (one replica wins, nothing half-done).

* ``PROMOTE``: move due re-deliveries from the delayed set onto the private retry stream. The
  script runs alone, so each entry is moved once; XADD comes before ZREM/DEL because a script is
  not rolled back: if Redis refuses the XADD (out of memory), the entry stays delayed, not lost.
* ``RENEW``: reset the idle time of deliveries this consumer still owns (XCLAIM JUSTID does not
  count a delivery), so long calls are not reclaimed; entries another consumer already took
  over are left alone.
* ``PUBLISH_ONCE``: ``SET tick NX`` and XADD in one step: a schedule tick is enqueued once across
  replicas, and never marked done without being enqueued.
* ``PUBLISH_IDEMPOTENT``: like ``PUBLISH_ONCE`` keyed by a producer's idempotency key, but the
  key holds the first invocation's id, which a repeated submit gets back instead of a new one.
* ``PUBLISH``: accept an async invocation: XADD the entry and write its record (HSET + PEXPIRE)
  in one command, so the 202 costs one round trip and one reply to parse.
* ``ACK``: settle a delivery that succeeded: write the record update (HSET + PEXPIRE), XACK, and
  XDEL where wisp owns the stream, in one command.

Scripts are called with ``EVALSHA`` through ``redis_batch.CommandBatcher`` (``NOSCRIPT`` loads
them); each runs atomically, as the MULTI blocks they replace did.
"""

from __future__ import annotations

PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, member in ipairs(due) do
  local entry = ARGV[3] .. member
  local fields = redis.call('HGETALL', entry)
  if #fields > 0 then
    redis.call('XADD', KEYS[2], '*', unpack(fields))
    moved = moved + 1
  end
  redis.call('ZREM', KEYS[1], member)
  redis.call('DEL', entry)
end
return moved
"""

RENEW = """
local renewed = 0
for i = 3, #ARGV do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
"""

PUBLISH_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return false
end
local n = tonumber(ARGV[3])
local message = {}
for i = 4, 3 + 2 * n do message[#message + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(message))
local record = {}
for i = 4 + 2 * n, #ARGV do record[#record + 1] = ARGV[i] end
if #record > 0 then
  redis.call('HSET', KEYS[3], unpack(record))
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return id
"""

PUBLISH_IDEMPOTENT = """
local first = redis.call('GET', KEYS[1])
if first then
  return first
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local n = tonumber(ARGV[4])
local message = {}
for i = 5, 4 + 2 * n do message[#message + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(message))
local record = {}
for i = 5 + 2 * n, #ARGV do record[#record + 1] = ARGV[i] end
if #record > 0 then
  redis.call('HSET', KEYS[3], unpack(record))
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return ARGV[1]
"""

PUBLISH = """
local n = tonumber(ARGV[2])
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3, 2 + 2 * n))
if #ARGV > 2 + 2 * n then
  redis.call('HSET', KEYS[2], unpack(ARGV, 3 + 2 * n, #ARGV))
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return id
"""

ACK = """
if #ARGV > 4 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 5, #ARGV))
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('XDEL', KEYS[1], ARGV[2])
end
return acked
"""

# HOLDING: KEYS are (stream, retry stream, delayed set) triples of owned streams, whose acknowledged
# entries are deleted: anything left is ready, pending or delayed. Returns the triples' 1-based
# numbers.
HOLDING = """
local out = {}
for i = 1, #KEYS, 3 do
  if redis.call('XLEN', KEYS[i]) > 0 or redis.call('XLEN', KEYS[i + 1]) > 0
      or redis.call('ZCARD', KEYS[i + 2]) > 0 then
    out[#out + 1] = (i + 2) / 3
  end
end
return out
"""
