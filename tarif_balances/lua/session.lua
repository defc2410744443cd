-- session.lua: one step of a charging session (Diameter Gy CCR-Initial/Update/Terminate), or the
-- sweeper's release of an expired one. One call is atomic: replay check, lazy expiry, release of
-- the session's previous hold, commit of the used units (free units first, then money), new
-- reservation, rated record, stored answer.
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
-- ARGV[11] answer TTL (s)  ARGV[12] grant validity (s)  ARGV[13] grace (s)
-- ARGV[14] pricing (msgpack; start only)         ARGV[15] rating fields (JSON text, start only)
-- ARGV[16] group id ('' when none; route check)  ARGV[17] owner account id
-- ARGV[18] cycle id of the event time (the member's cap is per cycle; start only)
-- ARGV[19] fingerprint of the request ('' or absent: none; a replay with another one is refused)
-- returns msgpack answer {r, g, f, c, sc, imp, vt, cur, d, m, n (notifications fired)}; r = 100 means "route is stale,
-- resolve the subscriber again" and changes nothing. A replay returns the stored answer (kept
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
  s = { n = reqno, sub = subscriber, p = cmsgpack.unpack(ARGV[14]), attrs = ARGV[15], t0 = t,
        cy = cycle, u = 0, ru = 0, fu = 0, mu = 0, cm = 0, unc = 0, rv = {}, pu = {} }
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
end

local p = s.p
-- Balances are chosen by the time the session started: its rate and its validity windows.
local free = free_balances(acct, p, s.t0, account_id, s.cy)
local money = with_pool(acct, account_id, p.mr, p.mo, s.t0, s.cy)

-- Commit the used units: rate the cumulative usage, charge only the difference, so however the
-- usage is split across reports the session costs exactly what the whole would cost.
local impacts = {}
local charged = 0
local uncovered = 0
local dr = 0
if used > 0 then
  local ru2 = rated_units(s.u + used, p.i1, p.i2)
  dr = ru2 - s.ru
  local fu = consume(acct, free, dr, impacts)
  local mu2 = s.mu + dr - fu
  local due = cost_minor(mu2, ru2, p) - s.cm
  charged = consume(acct, money, due, impacts)
  uncovered = due - charged
  s.u, s.ru, s.fu, s.mu, s.cm, s.unc = s.u + used, ru2, s.fu + fu, mu2, s.cm + due, s.unc + uncovered
end

local answer = { r = SUCCESS, g = 0, f = false, c = charged, sc = s.cm - s.unc, imp = impacts,
                 vt = 0, cur = p.cur, d = p.d }
answer.n = notify_crossings(acct, impacts, s.t0, now, notif_key, 's:' .. sid .. '#' .. reqno,
  account_id, subscriber)

if op == 'end' then
  drop_session(acct, account_id, sid, s, sexp_key, stats_key)
else
  -- Grant: the largest g <= requested whose cumulative cost the free units and money cover.
  local free_avail = total_available(free)
  local money_avail = total_available(money)
  local function need(g)
    local ru2 = rated_units(s.u + g, p.i1, p.i2)
    local d = ru2 - s.ru
    local fu = math.min(d, free_avail)
    return d, fu, cost_minor(s.mu + d - fu, ru2, p) - s.cm
  end
  local lo, hi = 0, requested
  if requested > 0 then
    local _, _, m_all = need(requested)
    if m_all <= money_avail then
      lo = requested
    else
      while lo < hi do
        local mid = math.floor((lo + hi + 1) / 2)
        local _, _, m = need(mid)
        if m <= money_avail then lo = mid else hi = mid - 1 end
      end
    end
  end
  local g = lo
  if g > 0 then
    local _, fu, m = need(g)
    reserve(acct, free, fu, s, stats_key)
    reserve(acct, money, m, s, stats_key)
  end
  answer.g = g
  answer.f = g < requested
  if requested > 0 and g == 0 then
    answer.r = CREDIT_LIMIT_REACHED
    answer.m = 'no credit left for ' .. p.svc
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
  add_record(stream, 's:' .. sid .. '#' .. reqno, op, account_id, subscriber, p.svc, p.r, t, now,
    used, dr, charged, p.cur, p.d, impacts_text(impacts), uncovered, sid, s.attrs)
end

return finish(answer)
