-- adjust.lua: add to or take from one balance (a back-office adjustment), once per request id.
-- The balance may not go below its floor (zero, or minus the credit limit). Thresholds crossed
-- by the change are notified in the same step, and a record goes to the rated stream for billing.
--
-- KEYS[1] tarif:{p}:a:<account>   KEYS[2] tarif:{p}:i:<account>:a:<request id>
-- KEYS[3] tarif:{p}:rated   KEYS[4] tarif:{p}:notif
-- ARGV[1] now (ms)  ARGV[2] answer TTL (s)  ARGV[3] account id  ARGV[4] balance id
-- ARGV[5] change in the resource's smallest unit (+ gives, - takes)  ARGV[6] request id
-- ARGV[7] reason
-- returns msgpack answer {r, a (amount after), res, n (notifications), m}

local acct_key, idem_key, stream, notif_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, ttl, account_id, bid = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local delta, request_id, reason = tonumber(ARGV[5]), ARGV[6], ARGV[7]

local stored = redis.call('GET', idem_key)
if stored then return stored end

local function finish(answer) return keep_answer(idem_key, ttl, answer) end

local acct = load_account(acct_key)
if acct == nil then return cmsgpack.pack({ r = USER_UNKNOWN, m = 'no account ' .. account_id }) end
local b = acct.index[bid]
if b == nil then
  return finish({ r = CREDIT_CONTROL_NOT_APPLICABLE, m = 'no balance ' .. bid })
end
local after = b.a + delta
if delta < 0 and after - b.v < b.floor then
  return finish({ r = CREDIT_LIMIT_REACHED, a = b.a, res = b.res,
                  m = 'the adjustment would take balance ' .. bid .. ' below its floor' })
end
redis.call('HINCRBY', acct_key, 'a:' .. bid, delta)
b.a = after
local impacts = { { bid, b.res, delta } }
-- `imp` carries the movement (no cost, no currency: not usage)
add_record(stream, 'a:' .. request_id, 'adjust', account_id, '', '', '', now, now, 0, 0, 0, '', 0,
  impacts_text(impacts), 0, '', '', 'ref', '', 'reason', reason)
local n = notify_crossings(acct, impacts, now, now, notif_key, 'a:' .. request_id, account_id, '')
return finish({ r = SUCCESS, a = after, res = b.res, n = n })
