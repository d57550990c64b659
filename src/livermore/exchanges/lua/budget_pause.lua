-- Pause every process on one egress IP: a 429's Retry-After or a 418 ban, never shortened.
-- KEYS[1] the egress's pause (until, epoch ms). ARGV[1] until (epoch ms); ARGV[2] now (epoch ms).
-- Returns the pause's end after the call.
local till, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or 0)
if till > current and till > now then
  redis.call('SET', KEYS[1], till, 'PX', till - now)
  return till
end
return current
