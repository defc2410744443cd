-- lib.lua: functions shared by the charging scripts; prepended to each script when it is loaded.
--
-- Numbers: Lua numbers are doubles, exact below 2^53; inputs are bounded far below that. Every
-- number handed to Redis goes through fmt() so it is written as an integer, never as "1e+15".
-- Serialised values (sessions, stored answers, pricing) are msgpack, which keeps integers exact.
--
-- Result codes (same numbers as tarif.charging.v1.ResultCode; ROUTE_STALE never leaves the engine).
local SUCCESS, CREDIT_LIMIT_REACHED, USER_UNKNOWN = 1, 2, 3
local SESSION_UNKNOWN, END_USER_SERVICE_DENIED, CREDIT_CONTROL_NOT_APPLICABLE = 5, 6, 7
local EVENT_UNKNOWN, REQUEST_OUT_OF_ORDER = 8, 9
local ROUTE_STALE = 100

local NO_END = 9007199254740991

local function fmt(n)
  return string.format('%d', n)
end

local function ceil_div(a, b)
  return math.floor((a + b - 1) / b)
end

-- Units after increments: 0 -> 0; up to `first` -> first; then whole `nxt` steps.
local function rated_units(units, first, nxt)
  if units <= 0 then return 0 end
  if units <= first then return first end
  return first + ceil_div(units - first, nxt) * nxt
end

-- Micro-units for `mu` cumulative money units over tiers {up_to (-1 = open), price, per}.
local function tier_cost(mu, tiers)
  local total, lower = 0, 0
  for _, t in ipairs(tiers) do
    if mu <= lower then break end
    local upper = t[1]
    local n = mu - lower
    if upper >= 0 and mu > upper then n = upper - lower end
    local price, per = t[2], t[3]
    total = total + math.floor(n / per) * price + ceil_div((n % per) * price, per)
    if upper < 0 then break end
    lower = upper
  end
  return total
end

-- Cost in minor units of `mu` money units when `rated` units were rated in all: rounded up once.
local function cost_minor(mu, rated, p)
  local micros = tier_cost(mu, p.tiers)
  if rated > 0 then micros = micros + p.cf end
  return ceil_div(micros, 10 ^ (6 - p.d))
end

-- The account hash, parsed. nil when the account does not exist.
local function load_account(key)
  local raw = redis.call('HGETALL', key)
  if #raw == 0 then return nil end
  local acct = { key = key, services = {}, bal = {}, sess = {}, st = 'active', pt = 'prepaid' }
  local amounts, reserved = {}, {}
  for i = 1, #raw, 2 do
    local f, v = raw[i], raw[i + 1]
    local c = string.sub(f, 1, 2)
    if c == 'a:' then
      amounts[string.sub(f, 3)] = tonumber(v)
    elseif c == 'v:' then
      reserved[string.sub(f, 3)] = tonumber(v)
    elseif c == 'b:' then
      local bid = string.sub(f, 3)
      local res, vf, vt, prio, floor =
        string.match(v, '^([^|]+)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d+)$')
      if res then
        acct.bal[bid] = { id = bid, res = res, from = tonumber(vf), to = tonumber(vt),
                          prio = tonumber(prio), floor = tonumber(floor) }
      end
    elseif c == 's:' then
      acct.services[string.sub(f, 3)] = v
    elseif c == 'x:' then
      acct.sess[string.sub(f, 3)] = v
    elseif f == 'st' then
      acct.st = v
    elseif f == 'pt' then
      acct.pt = v
    elseif f == 'xe' then
      acct.xe = tonumber(v)
    elseif f == 'th' then
      acct.th = cjson.decode(v)
    end
  end
  for id, b in pairs(acct.bal) do
    b.a = amounts[id] or 0
    b.v = reserved[id] or 0
  end
  return acct
end

local function expiry_of(b)
  if b.to == 0 then return NO_END end
  return b.to
end

-- Balances of `res` valid at `t`, in the resource's consumption order.
local function eligible(acct, res, order, t)
  local list = {}
  for _, b in pairs(acct.bal) do
    if b.res == res and b.from <= t and (b.to == 0 or t < b.to) then list[#list + 1] = b end
  end
  if order == 'priority' then
    table.sort(list, function(x, y)
      if x.prio ~= y.prio then return x.prio < y.prio end
      if expiry_of(x) ~= expiry_of(y) then return expiry_of(x) < expiry_of(y) end
      return x.id < y.id
    end)
  else
    table.sort(list, function(x, y)
      if expiry_of(x) ~= expiry_of(y) then return expiry_of(x) < expiry_of(y) end
      if x.prio ~= y.prio then return x.prio < y.prio end
      return x.id < y.id
    end)
  end
  return list
end

local function available(b)
  local n = b.a - b.v - b.floor
  if n < 0 then return 0 end
  return n
end

local function total_available(list)
  local n = 0
  for _, b in ipairs(list) do n = n + available(b) end
  return n
end

-- The free-unit balances of a pricing, flattened in order: free resources in their listed order,
-- each resource's balances in its own consumption order.
local function free_balances(acct, p, t)
  local list = {}
  for _, fr in ipairs(p.fr) do
    for _, b in ipairs(eligible(acct, fr[1], fr[2], t)) do list[#list + 1] = b end
  end
  return list
end

-- Take up to `amount` from `list` in order: moves amounts, appends impacts. Returns what it took.
local function consume(acct, list, amount, impacts)
  local taken = 0
  for _, b in ipairs(list) do
    if taken >= amount then break end
    local x = math.min(available(b), amount - taken)
    if x > 0 then
      b.a = b.a - x
      redis.call('HINCRBY', acct.key, 'a:' .. b.id, fmt(-x))
      impacts[#impacts + 1] = { b.id, b.res, -x }
      taken = taken + x
    end
  end
  return taken
end

-- Hold up to `amount` from `list` in order for a session; records holds in `rv` (id -> units).
local function reserve(acct, list, amount, rv, stats_key)
  local taken = 0
  for _, b in ipairs(list) do
    if taken >= amount then break end
    local x = math.min(available(b), amount - taken)
    if x > 0 then
      b.v = b.v + x
      redis.call('HINCRBY', acct.key, 'v:' .. b.id, fmt(x))
      redis.call('HINCRBY', stats_key, 'rv:' .. b.res, fmt(x))
      rv[b.id] = (rv[b.id] or 0) + x
      taken = taken + x
    end
  end
  return taken
end

-- Give back what a session holds.
local function release(acct, s, stats_key)
  for bid, x in pairs(s.rv) do
    local b = acct.bal[bid]
    if b then
      b.v = b.v - x
      redis.call('HINCRBY', acct.key, 'v:' .. bid, fmt(-x))
      redis.call('HINCRBY', stats_key, 'rv:' .. b.res, fmt(-x))
    end
  end
  s.rv = {}
end

local function impacts_text(impacts)
  local parts = {}
  for i, x in ipairs(impacts) do parts[i] = x[1] .. '|' .. x[2] .. '|' .. fmt(x[3]) end
  return table.concat(parts, ',')
end

local function session_member(account_id, sid)
  return account_id .. '|' .. sid
end

-- Delete a session after releasing what it holds.
local function drop_session(acct, account_id, sid, s, sexp_key, stats_key)
  release(acct, s, stats_key)
  redis.call('HDEL', acct.key, 'x:' .. sid)
  redis.call('ZREM', sexp_key, session_member(account_id, sid))
  redis.call('HINCRBY', stats_key, 'open', -1)
  acct.sess[sid] = nil
end

-- A record for a session released at expiry: nothing charged, so billing sees the abandonment.
local function add_expired_record(stream, account_id, sid, s, now)
  redis.call('XADD', stream, '*', 'id', 's:' .. sid .. '#expired', 'k', 'expired', 'acct', account_id,
    'sub', s.sub, 'svc', s.p.svc, 'rate', s.p.r, 't', fmt(now), 'at', fmt(now), 'u', '0', 'ru', '0',
    'cost', '0', 'cur', s.p.cur, 'imp', '', 'unc', '0', 'sid', sid, 'attrs', s.attrs)
end

-- Lazy expiry: release every session of this account whose validity (plus grace) has passed.
-- `xe` (earliest expiry of the account's sessions, possibly too early, never too late) lets
-- most calls skip unpacking the sessions.
local function expire_sessions(acct, account_id, now, sexp_key, stats_key, stream)
  if acct.xe and acct.xe > now then return end
  local earliest = nil
  for sid, raw in pairs(acct.sess) do
    local s = cmsgpack.unpack(raw)
    if s.e <= now then
      drop_session(acct, account_id, sid, s, sexp_key, stats_key)
      add_expired_record(stream, account_id, sid, s, now)
    elseif earliest == nil or s.e < earliest then
      earliest = s.e
    end
  end
  if earliest then
    redis.call('HSET', acct.key, 'xe', fmt(earliest))
  elseif acct.xe then
    redis.call('HDEL', acct.key, 'xe')
  end
  acct.xe = earliest
end

-- Record a session's expiry in the account's `xe` (kept at or below every session's expiry).
local function note_expiry(acct, e)
  if acct.xe == nil or e < acct.xe then
    acct.xe = e
    redis.call('HSET', acct.key, 'xe', fmt(e))
  end
end

-- The account's total of `res` at time `t`: what thresholds are measured on.
local function level(acct, res, t)
  local total = 0
  for _, b in pairs(acct.bal) do
    if b.res == res and b.from <= t and (b.to == 0 or t < b.to) then total = total + b.a end
  end
  return total
end

-- Thresholds of the credit profile crossed by the movements in `impacts` (already applied):
-- one notification each, in the same atomic step, so a crossing is never lost nor doubled.
-- A falling threshold fires when the level goes from above it to at or below it; a rising one
-- the other way. Returns how many fired.
local function notify_crossings(acct, impacts, t, now, notif_key, request_id, account_id, sub)
  if acct.th == nil or #impacts == 0 then return 0 end
  local delta = {}
  for _, x in ipairs(impacts) do delta[x[2]] = (delta[x[2]] or 0) + x[3] end
  local fired, levels = 0, {}
  for _, th in ipairs(acct.th) do
    local res, at, dir = th[2], th[3], th[4]
    local d = delta[res]
    if d and d ~= 0 then
      local after = levels[res]
      if after == nil then
        after = level(acct, res, t)
        levels[res] = after
      end
      local before = after - d
      if (dir == 'f' and before > at and after <= at) or (dir == 'r' and before < at and after >= at) then
        redis.call('XADD', notif_key, '*', 'id', request_id .. '|' .. th[1], 'k', th[5],
          'th', th[1], 'acct', account_id, 'sub', sub, 'res', res, 'level', fmt(at),
          'value', fmt(after), 'dir', dir, 'ch', th[6], 't', fmt(t), 'at', fmt(now))
        fired = fired + 1
      end
    end
  end
  return fired
end

-- Checks shared by every charging request. Returns an answer table to stop with, or nil.
local function gate(acct, subscriber, plan)
  if acct == nil then return { r = USER_UNKNOWN, m = 'no such account' } end
  if acct.services[subscriber] ~= plan then return { r = ROUTE_STALE } end
  if acct.st ~= 'active' then return { r = END_USER_SERVICE_DENIED, m = 'account is ' .. acct.st } end
  return nil
end
