-- Answer, for many candle keys of one timeframe in one call: how many candles, the newest open
-- time, how many candles lie in the window the newest ARGV[1] candles would fill if contiguous,
-- and, for keys holding fewer than that, when the exchange's history of the pair starts.
-- KEYS[1..n-1]: candle keys; KEYS[n]: the history-start hash (field = candle key).
-- ARGV[1] depth N; ARGV[2] interval length (ms) of every key.
-- Returns a flat array: count, newest (-1 when empty), window count, history start (-1: unknown).
local depth = tonumber(ARGV[1])
local span = (depth - 1) * tonumber(ARGV[2])
local history = KEYS[#KEYS]
local out = {}
local n = 0
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  local count = redis.call('ZCARD', key)
  local newest, window, start = -1, 0, -1
  if count > 0 then
    newest = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    window = redis.call('ZCOUNT', key, newest - span, newest)
    if count < depth then
      start = tonumber(redis.call('HGET', history, key) or -1)
    end
  end
  out[n + 1] = count
  out[n + 2] = newest
  out[n + 3] = window
  out[n + 4] = start
  n = n + 4
end
return out
