package redis

import goredis "github.com/redis/go-redis/v9"

// luaTime defines before_or_at(a, b): whether instant a is at or before
// instant b, both decimal Unix nanoseconds. Lua 5.1 numbers are doubles,
// which hold today's nanoseconds only to the nearest 256, so each instant
// is split into whole seconds and nanoseconds, both exact, and the pairs
// compared.
const luaTime = `
local function split(s)
  local sign, digits = string.match(s, '^(%-?)(%d+)$')
  local n = #digits
  local sec = 0
  if n > 9 then sec = tonumber(string.sub(digits, 1, n - 9)) end
  local nsec = tonumber(string.sub(digits, math.max(n - 8, 1)))
  if sign == '-' then return -sec, -nsec end
  return sec, nsec
end

local function before_or_at(a, b)
  local as, an = split(a)
  local bs, bn = split(b)
  if as ~= bs then return as < bs end
  return an <= bn
end
`

// claimScript: KEYS[1] the record; ARGV fingerprint, token, now,
// locked_until, expires_at, native expiry in ms. It returns 1 when the
// caller takes the key, else the existing record as HGETALL's list.
var claimScript = goredis.NewScript(luaTime + `
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'state', 'locked_until', 'expires_at')
if cur[1] and cur[3] and not before_or_at(cur[3], ARGV[3]) and
    (cur[1] == 'completed' or (cur[2] and not before_or_at(cur[2], ARGV[3]))) then
  return redis.call('HGETALL', key)
end
redis.call('DEL', key)
redis.call('HSET', key, 'fingerprint', ARGV[1], 'state', 'in_flight',
  'token', ARGV[2], 'locked_until', ARGV[4], 'expires_at', ARGV[5])
redis.call('PEXPIRE', key, ARGV[6])
return 1
`)

// extendScript: KEYS[1] the record; ARGV token, locked_until. It returns
// 1, or 0 when the token does not hold the key in flight.
var extendScript = goredis.NewScript(`
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'state', 'token')
if cur[1] ~= 'in_flight' or cur[2] ~= ARGV[1] then return 0 end
redis.call('HSET', key, 'locked_until', ARGV[2])
return 1
`)

// completeScript: KEYS[1] the record; ARGV token, expires_at, native
// expiry in ms, status, header, body. It returns 1, or 0 when the token
// does not hold the key in flight.
var completeScript = goredis.NewScript(`
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'state', 'token')
if cur[1] ~= 'in_flight' or cur[2] ~= ARGV[1] then return 0 end
redis.call('HSET', key, 'state', 'completed', 'expires_at', ARGV[2],
  'status', ARGV[4], 'header', ARGV[5], 'body', ARGV[6])
redis.call('PEXPIRE', key, ARGV[3])
return 1
`)

// releaseScript: KEYS[1] the record; ARGV token. It returns 1, or 0 when
// the token does not hold the key in flight.
var releaseScript = goredis.NewScript(`
local key = KEYS[1]
local cur = redis.call('HMGET', key, 'state', 'token')
if cur[1] ~= 'in_flight' or cur[2] ~= ARGV[1] then return 0 end
redis.call('DEL', key)
return 1
`)
