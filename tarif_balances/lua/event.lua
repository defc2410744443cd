-- event.lua: one-shot events (CCR-Event), a batch of them for accounts of one partition, each
-- atomic and in order: replay check, lazy expiry, rating against free units then money, all or
-- nothing, rated record, stored answer. Balance checks and price enquiries move nothing.
-- An event is priced as `call_cost` of tarif_catalog/units.py: rated units, free units from the
-- start in whole increments, money for the rest plus the connect fee (waived when the first free
-- balance that gives units says so), the cap, one rounding.
--
-- KEYS[1] tarif:{p}:rated   KEYS[2] tarif:{p}:sexp   KEYS[3] tarif:{p}:stats   KEYS[4] tarif:{p}:notif
-- then for each event: tarif:{p}:a:<account>, tarif:{p}:i:<account>:e:<id>, and for a member of
-- a sharing group also tarif:{p}:g:<group>, tarif:{p}:a:<owner> (the event gives the index)
-- ARGV[1] now (ms)   ARGV[2] TTL (s) of a charged event's answer: the refund window (refunds
--   read and update it)   ARGV[3] number of events
-- ARGV[4] the distinct pricings of the batch: msgpack array of pricing blobs (each msgpack: see
--   tarif_balances/scripts.py `pricing_blob`)
-- ARGV[5] the events, one msgpack array packed once for the whole batch: each event an array of
--   account id, subscriber, plan (route check), event id,
--   event time (ms), units, action (0 debit, 2 check balance, 3 price enquiry),
--   schedule {{start offset, index of its pricing in ARGV[4] (1-based)}...} (the first piece
--   starts at 0 and gives the increments, connect fee and cap), rating fields (JSON text),
--   index of its account key in KEYS, group id ('' when none; route check), owner account id,
--   cycle id, rate id (of the first piece), prefix (of the first piece), fingerprint of the
--   request ('' or absent: none; a replay with another one is refused), request id of the call
--   (a[17]: the record's `rq`; '' or absent: none)
-- ARGV[6] TTL (s) of the answer of an event that charged nothing: the retry window
-- (one argument for the whole batch: Redis parses two arguments instead of one per event, and the
-- caller packs it in one call of the msgpack C extension)
-- The rated records of the chunk are one entry of KEYS[1] (field `rs`, see lib.lua add_record).
-- returns an array of msgpack answers {r, g, c, imp, cur, d, m, n (notifications fired), ru
-- (rated units), tc (cost at the tariff's decimals), rd (those decimals), t (tariff), rt (rate),
-- x (prefix), bs (bands the rated units touched)}, in the order of the events (a debit's is kept
-- with its fingerprint `h`); r = 11: the event id was used for a different request, nothing
-- changed;
-- r = 100 means "route is stale, resolve again" and changed nothing for that event.

local stream, sexp_key, stats_key, notif_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, ttl, count, retry_ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[6]
local blobs = cmsgpack.unpack(ARGV[4])
local pricings = {}

-- Each distinct pricing is decoded once per call.
local function pricing(index)
  local p = pricings[index]
  if p == nil then
    p = cmsgpack.unpack(blobs[index])
    pricings[index] = p
  end
  return p
end

local function charge(a)
  local account_id, subscriber, plan, event_id = a[1], a[2], a[3], a[4]
  local t, units, action = a[5], a[6], a[7]
  local ki, group_id, owner_id, cycle, h = a[10], a[11], a[12], a[13], a[16]
  local acct_key, idem_key = KEYS[ki], KEYS[ki + 1]
  local debit = action == 0
  if debit then
    local stored = redis.call('GET', idem_key)
    if stored then return replay(stored, h, 'event_id ' .. event_id) end
  end
  local acct = load_account(acct_key)
  if acct and group_id ~= '' then attach_group(acct, KEYS[ki + 2], KEYS[ki + 3], owner_id, account_id) end
  local stop = gate(acct, subscriber, plan, group_id)
  if stop then
    if debit and stop.r ~= ROUTE_STALE and stop.r ~= USER_UNKNOWN then
      return keep_answer(idem_key, retry_ttl, stop, h)
    end
    return cmsgpack.pack(stop)
  end
  local sched = a[8]
  local q = {}
  for k, piece in ipairs(sched) do q[k] = { piece[1], pricing(piece[2]) } end
  local p = q[1][2]
  if debit then expire_sessions(acct, account_id, now, sexp_key, stats_key, stream) end

  local free = free_balances(acct, p, t, account_id, cycle)
  local money = with_pool(acct, account_id, p.mr, p.mo, t, cycle)
  local rated, fu, _, at_tariff, cost, capped, usage =
    call_cost(units, total_available(free), q, first_waives(free))
  local answer = { r = SUCCESS, g = usage, c = cost, imp = {}, cur = p.cur, d = p.d, mr = p.mr,
                   svc = p.svc, ru = rated, tc = at_tariff, rd = p.rd, t = p.t, rt = a[14],
                   x = a[15], bs = bands_of(q, 0, rated) }
  if cost > total_available(money) then
    answer.r, answer.g, answer.m = CREDIT_LIMIT_REACHED, 0, 'no credit left for ' .. p.svc
  elseif capped and usage == 0 then
    answer.r, answer.m = CREDIT_LIMIT_REACHED, 'max cost of the call reached'
  end
  if not debit then return cmsgpack.pack(answer) end

  if answer.r == SUCCESS then
    consume(acct, free, fu, answer.imp)
    consume(acct, money, cost, answer.imp)
    add_record(stream, 'e:' .. event_id, 'event', account_id, subscriber, p.svc, a[14], t, now,
      units, rated, cost, p.cur, p.d, impacts_text(answer.imp), 0, '', a[9], request_field(a[17]))
    answer.n = notify_crossings(acct, answer.imp, t, now, notif_key, 'e:' .. event_id, account_id,
      subscriber)
  end
  -- Refund bookkeeping rides on the stored answer: money refunded so far, per balance. A charged
  -- event's answer is kept for the refund window, another for the retry window.
  answer.rf, answer.rb = 0, {}
  return keep_answer(idem_key, answer.r == SUCCESS and ttl or retry_ttl, answer, h)
end

-- The chunk's rated records go to the stream as one entry (`flush_records`), written even when
-- an event fails with an error, so every balance moved so far has its record.
local events = cmsgpack.unpack(ARGV[5])
local answers = {}
batched_records = {}
local ok, err = pcall(function()
  for i = 1, count do
    answers[i] = charge(events[i])
  end
end)
flush_records(stream)
if not ok then error(err, 0) end -- as raised (level 0: no position added twice)
return answers
