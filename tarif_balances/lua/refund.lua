-- refund.lua: give back all or part of a charged event, once. Money goes back to the balances it
-- came from, the last debited first; a full refund also returns the free units. The refund has
-- its own request id (replays return the stored answer) and the original's stored answer keeps
-- what was refunded, so refunds never return more than was charged.
--
-- KEYS[1] tarif:{p}:a:<account>   KEYS[2] tarif:{p}:i:<account>:r:<refund id>
-- KEYS[3] tarif:{p}:i:<account>:e:<original event id>   KEYS[4] tarif:{p}:rated
-- KEYS[5] tarif:{p}:notif (rising thresholds crossed by the refund)
-- KEYS[6] tarif:{p}:g:<group>, KEYS[7] tarif:{p}:a:<owner> of a member's group (KEYS[1] if none)
-- ARGV[1] now (ms)  ARGV[2] answer TTL (s)  ARGV[3] account id  ARGV[4] subscriber  ARGV[5] plan
-- ARGV[6] refund id  ARGV[7] original event id  ARGV[8] amount in minor units (-1 = everything)
-- ARGV[9] event time (ms)  ARGV[10] currency of the amount ('' when refunding everything)
-- ARGV[11] group id ('' when none; route check)  ARGV[12] owner account id
-- ARGV[13] fingerprint of the request ('' or absent: none; a replay with another one is refused)
-- ARGV[14] request id of the call (the record's `rq`; '' or absent: none)
-- returns msgpack answer {r, c (refunded), imp, cur, d, m} (kept with the fingerprint as `h`);
-- r = 100: route stale, nothing changed; r = 11: the refund id was used for a different refund.

local acct_key, idem_key, orig_key, stream, notif_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, ttl, account_id, subscriber, plan = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local refund_id, original_id, amount, t = ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local currency, group_id, owner_id, h = ARGV[10], ARGV[11], ARGV[12], ARGV[13]

local stored = redis.call('GET', idem_key)
if stored then return replay(stored, h, 'refund_id ' .. refund_id) end

local function finish(answer) return keep_answer(idem_key, ttl, answer, h) end

local acct = load_account(acct_key)
if acct then attach_group(acct, KEYS[6], KEYS[7], owner_id, account_id) end
local stop = gate(acct, subscriber, plan, group_id)
if stop and (stop.r == ROUTE_STALE or stop.r == USER_UNKNOWN) then return cmsgpack.pack(stop) end

local raw = redis.call('GET', orig_key)
if not raw then return finish({ r = EVENT_UNKNOWN, m = 'no charged event ' .. original_id }) end
local o = cmsgpack.unpack(raw)
if o.r ~= SUCCESS or o.rf == nil then
  return finish({ r = EVENT_UNKNOWN, m = 'event ' .. original_id .. ' charged nothing' })
end
o.imp, o.rb = o.imp or {}, o.rb or {} -- left out of an answer kept when empty

if currency ~= '' and currency ~= o.cur then
  return finish({ r = CREDIT_CONTROL_NOT_APPLICABLE,
                  m = 'refund in ' .. currency .. ' of an event charged in ' .. o.cur })
end

local money_left = o.c - o.rf
local full = amount < 0
if full then
  if o.fr and money_left == 0 then
    return finish({ r = EVENT_UNKNOWN, m = 'event ' .. original_id .. ' is already refunded' })
  end
  amount = money_left
end
if amount > money_left then
  return finish({ r = CREDIT_CONTROL_NOT_APPLICABLE, m = 'refund exceeds the refundable '
    .. fmt(money_left), cur = o.cur, d = o.d })
end

-- Where to put back units: the balance they came from (own, or the group's pool), else the
-- first own balance of the resource.
local function target(ref, res)
  if acct.index[ref] then return acct.index[ref] end
  for _, b in ipairs(eligible(acct, res, 'earliest_expiry', t)) do return b end
  return nil
end

local impacts = {}
local function credit(bid, res, x)
  local to = target(bid, res)
  if to == nil or x <= 0 then return 0 end
  redis.call('HINCRBY', to.key, 'a:' .. to.id, fmt(x))
  to.a = to.a + x
  impacts[#impacts + 1] = { to.ref, res, x }
  return x
end

local remaining = amount
for i = #o.imp, 1, -1 do
  local bid, res, moved = o.imp[i][1], o.imp[i][2], -o.imp[i][3]
  if res == o.mr then
    local back = math.min(moved - (o.rb[bid] or 0), remaining)
    if back > 0 then
      local given = credit(bid, res, back)
      o.rb[bid] = (o.rb[bid] or 0) + given
      remaining = remaining - given
    end
  elseif full and not o.fr then
    credit(bid, res, moved)
  end
end
if full then o.fr = true end
local refunded = amount - remaining
o.rf = o.rf + refunded
redis.call('SET', orig_key, cmsgpack.pack(o), 'KEEPTTL')

add_record(stream, 'r:' .. refund_id, 'refund', account_id, subscriber, o.svc, '', t, now, 0, 0,
  -refunded, o.cur, o.d, impacts_text(impacts), 0, '', '', 'ref', original_id,
  request_field(ARGV[14]))

local fired = notify_crossings(acct, impacts, t, now, notif_key, 'r:' .. refund_id, account_id,
  subscriber)
return finish({ r = SUCCESS, c = refunded, imp = impacts, cur = o.cur, d = o.d, n = fired })
