-- Answer, for many candle keys of one timeframe in one call, what the scanner judges by: the
-- candles held, and what the coverage ledger says the exchange confirmed about each key.
-- KEYS[1..n-1]: candle keys; KEYS[n]: the ledger hash (field = candle key).
-- ARGV[1] depth N; ARGV[2] interval length (ms) of every key.
-- The window is the span the newest N intervals fill, ending at the newest open time accounted
-- for (the newest candle, or the ledger's answeredTo when the exchange confirmed a silence after
-- it); it counts the candles in it and the intervals the ledger confirms empty.
-- Returns a flat array, 7 numbers per key (-1: none or unknown): count, newest open time, window
-- count, how many empty intervals the ledger holds, answeredTo, fetchedAt, historyStart.
local span = (tonumber(ARGV[1]) - 1) * tonumber(ARGV[2])
local ledger = KEYS[#KEYS]
local stored_entries = redis.call('HMGET', ledger, unpack(KEYS, 1, #KEYS - 1))  -- one call for the chunk
local out = {}
local n = 0
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  local count = redis.call('ZCARD', key)
  local newest = -1
  if count > 0 then
    newest = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
  end
  local stored = stored_entries[i]
  local entry = stored and cjson.decode(stored) or {}
  local empty = entry.empty or {}
  local top = math.max(newest, entry.answeredTo or -1)
  local window = 0
  if top >= 0 then
    window = redis.call('ZCOUNT', key, top - span, top)
    for _, t in ipairs(empty) do
      if t >= top - span and t <= top then
        window = window + 1
      end
    end
  end
  out[n + 1] = count
  out[n + 2] = newest
  out[n + 3] = window
  out[n + 4] = #empty
  out[n + 5] = entry.answeredTo or -1
  out[n + 6] = entry.fetchedAt or -1
  out[n + 7] = entry.historyStart or -1
  n = n + 7
end
return out
