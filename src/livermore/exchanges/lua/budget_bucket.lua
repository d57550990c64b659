-- One grant from a token bucket shared by every process on one egress IP (Coinbase requests per second).
-- KEYS[1] the bucket (hash: tokens, at = epoch ms of the last refill); KEYS[2] the egress's pause (until, epoch ms).
-- ARGV[1] cost; ARGV[2] refill per ms; ARGV[3] burst (a missing bucket is full); ARGV[4] now (epoch ms).
-- Returns {granted (1/0), 0, ms until the cost is refilled (0 when granted), the pause's end (0: none)}.
local cost, rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local paused = tonumber(redis.call('GET', KEYS[2]) or 0)
if paused > now then
  return {0, 0, paused - now, paused}
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
-- A process whose clock is behind the last one's refills nothing, rather than time running backwards.
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
at = math.max(at, now)
local granted, wait = 0, 0
if tokens >= cost - 1e-9 then
  tokens = tokens - cost
  granted = 1
else
  wait = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return {granted, 0, wait, 0}
