-- Answer, for many candle keys of one timeframe in one call: how many candles, the newest open
-- time, and how many candles lie in the window the newest ARGV[1] candles would fill if contiguous.
-- KEYS: candle keys; ARGV[1] depth N; ARGV[2] interval length (ms) of every key.
-- Returns a flat array: count, newest (-1 when empty), window count; per key.
local span = (tonumber(ARGV[1]) - 1) * tonumber(ARGV[2])
local out = {}
local n = 0
for _, key in ipairs(KEYS) do
  local count = redis.call('ZCARD', key)
  local newest = -1
  local window = 0
  if count > 0 then
    newest = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    window = redis.call('ZCOUNT', key, newest - span, newest)
  end
  out[n + 1] = count
  out[n + 2] = newest
  out[n + 3] = window
  n = n + 3
end
return out
