-- Write one page of candles to one sorted set, atomically.
-- KEYS[1] candle key; ARGV[1] max candles kept; then score, member pairs.
-- A candle replaces any member with the same open time (never two members with one score),
-- then the key is trimmed to the newest ARGV[1] members.
local key = KEYS[1]
local max = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('ZREMRANGEBYSCORE', key, ARGV[i], ARGV[i])
  redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
end
local size = redis.call('ZCARD', key)
if size > max then
  redis.call('ZREMRANGEBYRANK', key, 0, size - max - 1)
end
return (#ARGV - 1) / 2
