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
local IDEMPOTENCY_CONFLICT = 11
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
        acct.bal[bid] = { id = bid, ref = bid, key = key, res = res, from = tonumber(vf),
                          to = tonumber(vt), prio = tonumber(prio), floor = tonumber(floor) }
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
    elseif c == 't:' then
      acct.t = acct.t or {}
      acct.t[string.sub(f, 3)] = v
    elseif f == 'g' then
      acct.g = v
    end
  end
  acct.index = {}
  for id, b in pairs(acct.bal) do
    b.a = amounts[id] or 0
    b.v = reserved[id] or 0
    acct.index[id] = b
  end
  return acct
end

-- What a member needs of its sharing group's hash: owner, status, validity, order and its own
-- status (HMGET: the hash also holds every other member's fields). Caps and usage are read per
-- resource, when a resource is first needed (`group_budget`).
local function load_group(key, member_id)
  local v = redis.call('HMGET', key, 'owner', 'st', 'vf', 'vt', 'ord', 'm:' .. member_id, 'res')
  if not v[1] then return nil end
  return { key = key, owner = v[1], st = v[2], vf = tonumber(v[3]) or 0, vt = tonumber(v[4]) or 0,
           ord = v[5], member = v[6], shared = ',' .. (v[7] or '') .. ',', caps = {}, used = {} }
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
  if b.budget and b.budget.left < n then return b.budget.left end
  return n
end

-- What a list can give: pool balances that share a member's cap count at most the cap left.
local function total_available(list)
  local n, pooled = 0, {}
  for _, b in ipairs(list) do
    if b.budget then
      pooled[b.budget] = (pooled[b.budget] or 0) + math.max(0, b.a - b.v - b.floor)
    else
      n = n + available(b)
    end
  end
  for budget, sum in pairs(pooled) do n = n + math.min(sum, budget.left) end
  return n
end

-- Spend from a pool balance's budget (the member's cap), counting it in the group's usage.
local function spend(b, x, sess)
  if b.budget == nil then return end
  b.budget.left = b.budget.left - x
  redis.call('HINCRBY', b.budget.key, b.budget.field, fmt(x))
  if sess then sess.pu[b.budget.field] = (sess.pu[b.budget.field] or 0) + x end
end

-- The owner's balances of `res` a member may draw on now, each carrying the member's budget
-- (cap per cycle minus what it used and holds). Empty when the group, the member or the
-- resource is not active/shared.
local function pool_of(acct, member_id, res, order, t, cycle)
  local g, owner = acct.group, acct.owner
  if g == nil or owner == nil or g.st ~= 'active' or g.member ~= 'active' then
    return {}
  end
  if g.vf > t or (g.vt ~= 0 and t >= g.vt) then return {} end
  if not string.find(g.shared, ',' .. res .. ',', 1, true) then return {} end
  local field = member_id .. ':' .. res .. ':' .. cycle
  if g.caps[res] == nil then
    local v = redis.call('HMGET', g.key, 'r:' .. res, 'u:' .. field)
    g.caps[res] = tonumber(v[1]) or false
    g.used[field] = tonumber(v[2]) or 0
  end
  local cap = g.caps[res]
  if not cap then return {} end
  local list = eligible(owner, res, order, t)
  if cap < 0 then return list end -- no cap: nothing to count (usage is in the rated records)
  local budget = { key = g.key, field = 'u:' .. field, left = math.max(0, cap - g.used[field]) }
  for _, b in ipairs(list) do b.budget = budget end
  return list
end

-- Own balances and the group's pool, in the group's order (own first unless pool_first).
local function with_pool(acct, member_id, res, order, t, cycle)
  local own = eligible(acct, res, order, t)
  local pool = pool_of(acct, member_id, res, order, t, cycle)
  if #pool == 0 then return own end
  local first, second = own, pool
  if acct.group.ord == 'pool_first' then first, second = pool, own end
  local list = {}
  for _, b in ipairs(first) do list[#list + 1] = b end
  for _, b in ipairs(second) do list[#list + 1] = b end
  return list
end

-- The free-unit balances of a pricing, flattened in order: free resources in their listed order,
-- each resource's balances in its own consumption order (with the group's pool, if any).
local function free_balances(acct, p, t, member_id, cycle)
  local list = {}
  for _, fr in ipairs(p.fr) do
    for _, b in ipairs(with_pool(acct, member_id, fr[1], fr[2], t, cycle)) do
      list[#list + 1] = b
    end
  end
  return list
end

-- Attach a member's group and its owner (same partition) to the loaded account.
local function attach_group(acct, group_key, owner_key, owner_id, member_id)
  if acct.g == nil or acct.g == '' then return end
  acct.group = load_group(group_key, member_id)
  if acct.group == nil then return end
  acct.owner = load_account(owner_key)
  if acct.owner == nil then return end
  for id, b in pairs(acct.owner.bal) do
    b.ref = owner_id .. '/' .. id
    acct.index[b.ref] = b
  end
end

-- Take up to `amount` from `list` in order: moves amounts, appends impacts. Returns what it took.
local function consume(acct, list, amount, impacts)
  local taken = 0
  for _, b in ipairs(list) do
    if taken >= amount then break end
    local x = math.min(available(b), amount - taken)
    if x > 0 then
      b.a = b.a - x
      redis.call('HINCRBY', b.key, 'a:' .. b.id, fmt(-x))
      spend(b, x, nil)
      impacts[#impacts + 1] = { b.ref, b.res, -x }
      taken = taken + x
    end
  end
  return taken
end

-- Hold up to `amount` from `list` in order for session `s`; holds go to `s.rv` (ref -> units),
-- and holds on a group's pool count toward the member's cap (`s.pu`) until released.
local function reserve(acct, list, amount, s, stats_key)
  local taken = 0
  for _, b in ipairs(list) do
    if taken >= amount then break end
    local x = math.min(available(b), amount - taken)
    if x > 0 then
      b.v = b.v + x
      redis.call('HINCRBY', b.key, 'v:' .. b.id, fmt(x))
      redis.call('HINCRBY', stats_key, 'rv:' .. b.res, fmt(x))
      spend(b, x, s)
      s.rv[b.ref] = (s.rv[b.ref] or 0) + x
      taken = taken + x
    end
  end
  return taken
end

-- Give back what a session holds (and the cap usage its pool holds counted).
local function release(acct, s, stats_key)
  for ref, x in pairs(s.rv) do
    local b = acct.index[ref]
    if b then
      b.v = b.v - x
      redis.call('HINCRBY', b.key, 'v:' .. b.id, fmt(-x))
      redis.call('HINCRBY', stats_key, 'rv:' .. b.res, fmt(-x))
    end
  end
  if s.pu and acct.group then
    for field, x in pairs(s.pu) do
      redis.call('HINCRBY', acct.group.key, field, fmt(-x))
      acct.group.used[string.sub(field, 3)] = (acct.group.used[string.sub(field, 3)] or 0) - x
    end
  end
  s.rv, s.pu = {}, {}
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

-- Append a rated record: the one writer of `tarif:{p}:rated` entries. The fields are defined in
-- tarif_balances/records.py (and documented in docs/architecture.md, "Rated record"); numbers
-- are integers (times in ms, units, money in minor units of `cur`, which has `dec` decimals).
-- `...` adds the optional field/value pairs (`ref`, `reason`).
local function add_record(stream, id, kind, account_id, sub, svc, rate, t, now, u, ru, cost, cur,
                          dec, imp, unc, sid, attrs, ...)
  redis.call('XADD', stream, '*', 'id', id, 'k', kind, 'acct', account_id, 'sub', sub, 'svc', svc,
    'rate', rate, 't', fmt(t), 'at', fmt(now), 'u', fmt(u), 'ru', fmt(ru), 'cost', fmt(cost),
    'cur', cur, 'dec', fmt(dec), 'imp', imp, 'unc', fmt(unc), 'sid', sid, 'attrs', attrs, ...)
end

-- A record for a session released at expiry: nothing charged, so billing sees the abandonment.
local function add_expired_record(stream, account_id, sid, s, now)
  add_record(stream, 's:' .. sid .. '#expired', 'expired', account_id, s.sub, s.p.svc, s.p.r, now,
    now, 0, 0, 0, s.p.cur, s.p.d, '', 0, sid, s.attrs)
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
  if acct.t == nil or #impacts == 0 then return 0 end
  local delta = {}
  for _, x in ipairs(impacts) do
    -- the member's own balances only: a group's pool ("owner/id") is the owner's level
    if not string.find(x[1], '/', 1, true) then delta[x[2]] = (delta[x[2]] or 0) + x[3] end
  end
  local fired = 0
  for res, d in pairs(delta) do
    local spec = acct.t[res] -- "level,f|r;level,f|r": only numbers on the hot path
    if spec and d ~= 0 then
      local after = level(acct, res, t)
      local before = after - d
      local i, details = 0, nil
      for raw, dir in string.gmatch(spec, '(%-?%d+),([fr])') do
        i = i + 1
        local at = tonumber(raw)
        if (dir == 'f' and before > at and after <= at) or (dir == 'r' and before < at and after >= at) then
          -- names, type and channels are read only when a threshold fires
          details = details or cjson.decode(redis.call('HGET', acct.key, 'ti:' .. res))
          local th = details[i]
          redis.call('XADD', notif_key, '*', 'id', request_id .. '|' .. th[1], 'k', th[2],
            'th', th[1], 'acct', account_id, 'sub', sub, 'res', res, 'level', fmt(at),
            'value', fmt(after), 'dir', dir, 'ch', th[3], 't', fmt(t), 'at', fmt(now))
          fired = fired + 1
        end
      end
    end
  end
  return fired
end

-- Checks shared by every charging request. Returns an answer table to stop with, or nil.
local function gate(acct, subscriber, plan, group)
  -- No account at the route's key: it moved (or went): resolve the route again.
  if acct == nil then return { r = ROUTE_STALE } end
  if acct.services[subscriber] ~= plan then return { r = ROUTE_STALE } end
  if (acct.g or '') ~= (group or '') then return { r = ROUTE_STALE } end
  if acct.st ~= 'active' then return { r = END_USER_SERVICE_DENIED, m = 'account is ' .. acct.st } end
  return nil
end

-- Pack an answer and keep it under the request's idempotency key: a replay gets it back as is.
-- `h` (the request's fingerprint; nil or '' when none) is kept with it as field `h`.
local function keep_answer(idem_key, ttl, answer, h)
  if h and h ~= '' then answer.h = h end
  local packed = cmsgpack.pack(answer)
  redis.call('SET', idem_key, packed, 'EX', ttl)
  return packed
end

-- A request whose id has a stored answer: the same request (same fingerprint `h`, or an answer
-- kept before fingerprints, or a caller that sends none) gets the answer back as is; a different
-- request under the same id is refused, and nothing is stored or moved. Only this path unpacks.
local function replay(stored, h, what)
  if h == nil or h == '' then return stored end
  local kept = cmsgpack.unpack(stored).h
  if kept == nil or kept == h then return stored end
  return cmsgpack.pack({ r = IDEMPOTENCY_CONFLICT,
                         m = what .. ' was already used for a different request' })
end
