-- session.lua: one step of a charging session (Diameter Gy CCR-Initial/Update/Terminate), or the
-- sweeper's release of an expired one. One call is atomic: replay check, lazy expiry, release of
-- the session's previous hold, commit of the used units (free units first, then money), new
-- reservation, rated record, stored answer.
--
-- A session is priced as one call (`call_cost` of tarif_catalog/units.py) of its cumulative
-- usage: each commit rates offsets [s.ru, ru2) of the call, free units cover them while the call
-- has been free from its start, and the money part adds its EXACT scaled cost to `s.mt`; what a
-- request charges is the whole so far, rounded once, less what the session already charged. So
-- any split of a session costs what the whole would.
--
-- KEYS[1] tarif:{p}:a:<account>          account hash (balances, services, open sessions)
-- KEYS[2] tarif:{p}:i:<account>:<req>    stored answer of this request (TTL ARGV[11])
-- KEYS[3] tarif:{p}:rated                rated-record stream
-- KEYS[4] tarif:{p}:sexp                 session expiry index
-- KEYS[5] tarif:{p}:stats                partition counters (open sessions, reserved units)
-- KEYS[6] tarif:{p}:notif                notifications (credit-profile thresholds crossed)
-- KEYS[7] tarif:{p}:g:<group>            the member's sharing group (KEYS[1] when none)
-- KEYS[8] tarif:{p}:a:<owner>            the group owner's account (KEYS[1] when none)
-- ARGV[1] op: start | update | end | expire
-- ARGV[2] account id     ARGV[3] subscriber      ARGV[4] plan (route check)
-- ARGV[5] session id     ARGV[6] request number  ARGV[7] now (ms)   ARGV[8] event time (ms)
-- ARGV[9] requested units                        ARGV[10] used units
-- ARGV[11] answer TTL (s): the retry window  ARGV[12] grant validity (s)  ARGV[13] grace (s)
-- ARGV[14] the call's quote (start only; '' otherwise): msgpack map {r = rate id, x = prefix,
--   q = {{start offset, pricing blob (msgpack, see event.lua)}...}}: the pieces of a horizon
--   from the session's start; beyond the last piece its prices go on
-- ARGV[15] rating fields (JSON text, start only)
-- ARGV[16] group id ('' when none; route check)  ARGV[17] owner account id
-- ARGV[18] cycle id of the event time (the member's cap is per cycle; start only)
-- ARGV[19] fingerprint of the request ('' or absent: none; a replay with another one is refused)
-- ARGV[20] request id of the call (the record's `rq`; '' or absent, as for a release: none)
-- returns msgpack answer {r, g, f, c, sc, imp, vt, cur, d, m, n (notifications fired), ru (units
-- rated by this request), tc (its cost at the tariff's decimals), rd (those decimals), t
-- (tariff), rt (rate), x (prefix), bs (bands its rated units touched)}; r = 100 means "route is
-- stale, resolve the subscriber again" and changes nothing. A replay returns the stored answer (kept
-- with the fingerprint as `h`); r = 11: this request number was used for a different request.

local acct_key, idem_key, stream, sexp_key, stats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local notif_key, group_key, owner_key = KEYS[6], KEYS[7], KEYS[8]
local group_id, owner_id, cycle = ARGV[16], ARGV[17], ARGV[18]
local op, account_id, subscriber, plan = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local sid, reqno = ARGV[5], tonumber(ARGV[6])
local now, t = tonumber(ARGV[7]), tonumber(ARGV[8])
local requested, used = tonumber(ARGV[9]), tonumber(ARGV[10])
local ttl, validity, grace = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13])

local h = ARGV[19]
if op ~= 'expire' then
  local stored = redis.call('GET', idem_key)
  if stored then
    return replay(stored, h, 'request_number ' .. ARGV[6] .. ' of session ' .. sid)
  end
end

local acct = load_account(acct_key)
if acct then attach_group(acct, group_key, owner_key, owner_id, account_id) end

if op == 'expire' then
  -- Sweeper: release the session only if it is still there and still expired.
  if acct == nil or acct.sess[sid] == nil then
    redis.call('ZREM', sexp_key, session_member(account_id, sid))
    return cmsgpack.pack({ r = SESSION_UNKNOWN })
  end
  local s = cmsgpack.unpack(acct.sess[sid])
  if s.e > now then return cmsgpack.pack({ r = SUCCESS, m = 'not expired' }) end
  drop_session(acct, account_id, sid, s, sexp_key, stats_key)
  add_expired_record(stream, account_id, sid, s, now)
  return cmsgpack.pack({ r = SUCCESS, m = 'released' })
end

local function finish(answer) return keep_answer(idem_key, ttl, answer, h) end

local stop = gate(acct, subscriber, plan, group_id)
if stop then
  if stop.r == ROUTE_STALE or stop.r == USER_UNKNOWN then return cmsgpack.pack(stop) end
  return finish(stop)
end

expire_sessions(acct, account_id, now, sexp_key, stats_key, stream)

local s
if op == 'start' then
  if acct.sess[sid] then
    return finish({ r = REQUEST_OUT_OF_ORDER, m = 'session already started' })
  end
  local quote = cmsgpack.unpack(ARGV[14])
  local q = {}
  for k, piece in ipairs(quote.q) do q[k] = { piece[1], cmsgpack.unpack(piece[2]) } end
  -- u, ru: used and rated units; f: rated offsets free units covered (from the start); mt: exact
  -- money of the other offsets (scaled); w: the free start waives the fee (set by the first
  -- rated unit); cm, ct: charged so far in minor units and at the tariff's decimals
  s = { n = reqno, sub = subscriber, q = q, r = quote.r, x = quote.x, attrs = ARGV[15], t0 = t,
        cy = cycle, u = 0, ru = 0, f = 0, mt = 0, cm = 0, ct = 0, unc = 0, rv = {}, pu = {} }
else
  if acct.sess[sid] == nil then
    return finish({ r = SESSION_UNKNOWN, m = 'no open session ' .. sid })
  end
  s = cmsgpack.unpack(acct.sess[sid])
  if reqno <= s.n then
    return finish({ r = REQUEST_OUT_OF_ORDER, m = 'request number ' .. reqno .. ' after ' .. s.n })
  end
  s.n = reqno
  release(acct, s, stats_key)
  upgrade_session(s)
end

local q = s.q
local p = q[1][2]
local steps = p.st
-- Balances are chosen by the time the session started: its rate and its validity windows.
local free = free_balances(acct, p, s.t0, account_id, s.cy)
local money = with_pool(acct, account_id, p.mr, p.mo, s.t0, s.cy)

-- Free units the session may still use from rated offset s.ru on, with `free_avail` available:
-- whole increments, and only while every rated offset so far was free (they cover the call from
-- its start, as for an event).
local function free_from(ru2, free_avail)
  if s.f < s.ru then return 0 end
  return floor_boundary(s.ru + math.min(ru2 - s.ru, free_avail), steps) - s.ru
end

-- The session's exact cost once rated up to `ru2` with money offsets costing `mt`.
local function scaled_cost(ru2, mt, waived)
  if ru2 > 0 and not waived then return p.cf + mt end
  return mt
end

-- The cap: at most `mx` (a disconnecting cap is kept by the grants).
local function capped(scaled)
  if p.mx >= 0 and scaled > p.mx then return p.mx end
  return scaled
end

-- Commit the used units: rate the cumulative usage, charge the whole so far rounded once less
-- what was charged, so however the usage is split across reports the session costs exactly
-- what the whole would cost.
local impacts = {}
local charged, uncovered, dr, dtc = 0, 0, 0, 0
local ru0 = s.ru
if used > 0 then
  local ru2 = rated_units(s.u + used, steps)
  if ru2 > s.ru then
    local f = free_from(ru2, total_available(free))
    if s.ru == 0 then s.w = f > 0 and first_waives(free) end
    consume(acct, free, f, impacts)
    s.mt = s.mt + range_cost(s.ru + f, ru2, q)
    s.f = s.f + f
  end
  local at_tariff, minor = to_currency(capped(scaled_cost(ru2, s.mt, s.w)), p)
  local due = math.max(0, minor - s.cm)
  charged = consume(acct, money, due, impacts)
  uncovered = due - charged
  dr, dtc = ru2 - s.ru, math.max(0, at_tariff - s.ct)
  s.u, s.ru, s.unc = s.u + used, ru2, s.unc + uncovered
  s.cm, s.ct = math.max(minor, s.cm), math.max(at_tariff, s.ct)
end

local answer = { r = SUCCESS, g = 0, f = false, c = charged, sc = s.cm - s.unc, imp = impacts,
                 vt = 0, cur = p.cur, d = p.d, ru = dr, tc = dtc, rd = p.rd, t = p.t, rt = s.r,
                 x = s.x, bs = bands_of(q, ru0, s.ru) }
answer.n = notify_crossings(acct, impacts, s.t0, now, notif_key, 's:' .. sid .. '#' .. reqno,
  account_id, subscriber)

if op == 'end' then
  drop_session(acct, account_id, sid, s, sexp_key, stats_key)
else
  -- Grant: the largest g <= requested whose cumulative cost the free units and money cover,
  -- which a disconnecting cap allows and which stays exact.
  local free_avail = total_available(free)
  local money_avail = total_available(money)
  local waives = first_waives(free)
  -- For g more units: why they cannot be granted whatever the credit (nil, or a message), the
  -- free units and the money to hold.
  local function need(g)
    local ru2 = rated_units(s.u + g, steps)
    local f = free_from(ru2, free_avail)
    local waived = s.w
    if s.ru == 0 then waived = f > 0 and waives end
    local scaled = scaled_cost(ru2, s.mt + range_cost(s.ru + f, ru2, q), waived)
    local barred = nil
    if scaled >= EXACT_LIMIT then
      barred = 'usage too large to price exactly'
    elseif p.dc and p.mx >= 0 and scaled > p.mx then
      barred = 'max cost of the call reached'
    end
    local _, minor = to_currency(capped(scaled), p)
    return barred, f, math.max(0, minor - s.cm)
  end
  local function fits(g)
    local barred, _, m = need(g)
    return barred == nil and m <= money_avail
  end
  local lo, hi = 0, requested
  if requested > 0 then
    if fits(requested) then
      lo = requested
    else
      while lo < hi do
        local mid = math.floor((lo + hi + 1) / 2)
        if fits(mid) then lo = mid else hi = mid - 1 end
      end
    end
  end
  local g = lo
  if g > 0 then
    local _, f, m = need(g)
    reserve(acct, free, f, s, stats_key)
    reserve(acct, money, m, s, stats_key)
  end
  answer.g = g
  answer.f = g < requested
  if requested > 0 and g == 0 then
    answer.r = CREDIT_LIMIT_REACHED
    answer.m = need(1) or ('no credit left for ' .. p.svc)
  end
  answer.vt = validity
  if op == 'start' and answer.r == CREDIT_LIMIT_REACHED then
    -- Nothing could be granted: no session is opened; the client stops.
    answer.vt = 0
  else
    if op == 'start' then redis.call('HINCRBY', stats_key, 'open', 1) end
    s.e = now + (validity + grace) * 1000
    redis.call('HSET', acct_key, 'x:' .. sid, cmsgpack.pack(s))
    redis.call('ZADD', sexp_key, fmt(s.e), session_member(account_id, sid))
    note_expiry(acct, s.e)
  end
end

if used > 0 or op == 'end' then
  add_record(stream, 's:' .. sid .. '#' .. reqno, op, account_id, subscriber, p.svc, s.r, t, now,
    used, dr, charged, p.cur, p.d, impacts_text(impacts), uncovered, sid, s.attrs,
    request_field(ARGV[20]))
end

return finish(answer)
