-- Answer, for many candle keys in one call: how many candles, the newest open time, and how
-- many candles lie in the window the newest ARGV[1] candles would fill if contiguous.
-- KEYS[i] candle key; ARGV[1] depth N; ARGV[1 + i] interval length (ms) of KEYS[i].
-- Returns a flat array: count, newest (-1 when empty), window count; per key.
local depth = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('ZCARD', key)
  local newest = -1
  local window = 0
  if count > 0 then
    local top = redis.call('ZRANGE', key, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
    newest = tonumber(top[2])
    local from = newest - (depth - 1) * tonumber(ARGV[1 + i])
    window = redis.call('ZCOUNT', key, from, newest)
  end
  out[#out + 1] = count
  out[#out + 1] = newest
  out[#out + 1] = window
end
return out
