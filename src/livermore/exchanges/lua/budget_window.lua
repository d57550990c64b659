-- One grant from a fixed weight window shared by every process on one egress IP (Binance REQUEST_WEIGHT).
-- KEYS[1] the window's weight; KEYS[2] the egress's pause (until, epoch ms).
-- ARGV[1] weight asked; ARGV[2] budget per window; ARGV[3] now (epoch ms); ARGV[4] the window's end (epoch ms);
-- ARGV[5] the server's count from the caller's newest answer in this window (0: none);
-- ARGV[6] the caller's weight still in flight from the window before, sent once per window.
-- The count first becomes the larger of ours (plus the carried weight) and the server's; then,
-- unless a pause holds, the weight is granted if it fits the budget.
-- Returns {granted (1/0), the window's weight after the call, ms to the window's end, the pause's end (0: none)}.
local weight, budget, now, ends = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local stored = tonumber(redis.call('GET', KEYS[1]) or 0)
local used = math.max(stored + tonumber(ARGV[6]), tonumber(ARGV[5]))
local paused = tonumber(redis.call('GET', KEYS[2]) or 0)
if paused <= now then
  paused = 0
end
local granted = 0
if paused == 0 and used + weight <= budget then
  used = used + weight
  granted = 1
end
if used ~= stored then
  -- Kept a little past the window's end, for a process whose clock is a little behind.
  redis.call('SET', KEYS[1], used, 'PX', ends - now + 10000)
end
return {granted, used, ends - now, paused}
