-- The end of one page's write, in the page's transaction after the range delete of its span and the
-- ZADD of its members (candles.py): trim the key, then write what the exchange's answer confirmed
-- about the key to the coverage ledger: atomically with the page, so the two never disagree.
-- KEYS[1] candle key; KEYS[2] the ledger hash (field = candle key).
-- ARGV[1] max candles kept; ARGV[2] interval length (ms); ARGV[3] the answer as JSON
-- ({from, answeredTo?, fetchedAt, empty?, historyStart?}) or '' (candles only).
local key = KEYS[1]
local max = tonumber(ARGV[1])
local size = redis.call('ZCARD', key)
if size > max then
  redis.call('ZREMRANGEBYRANK', key, 0, size - max - 1)
  size = max
end
if ARGV[3] == '' then
  return
end

local answer = cjson.decode(ARGV[3])
local stored = redis.call('HGET', KEYS[2], key)
local entry = stored and cjson.decode(stored) or {}
local to = math.max(answer.answeredTo or -1, entry.answeredTo or -1)
-- Empties are kept for the span the key holds: the newest `max` intervals, and nothing older than
-- the oldest candle once the key is full (older intervals were trimmed away). An interval that
-- holds a member (a candle written since, or a synthetic one) is no longer counted as empty.
local floor = to - (max - 1) * tonumber(ARGV[2])
if size >= max then
  floor = math.max(floor, tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]))
end
local empty = {}
local function keep(t)
  if t >= floor and redis.call('ZCOUNT', key, t, t) == 0 then
    empty[#empty + 1] = t
  end
end
for _, t in ipairs(entry.empty or {}) do
  if t < answer.from then -- the answer is the truth from where it was asked
    keep(t)
  end
end
for _, t in ipairs(answer.empty or {}) do
  keep(t)
end
entry.empty = #empty > 0 and empty or nil
entry.answeredTo = to >= 0 and to or nil
entry.fetchedAt = answer.fetchedAt
-- A history start only where the key holds nothing older: a later hole is not where history begins.
local start = answer.historyStart
if start and redis.call('ZCOUNT', key, '-inf', '(' .. start) == 0 then
  entry.historyStart = start
end
redis.call('HSET', KEYS[2], key, cjson.encode(entry))
