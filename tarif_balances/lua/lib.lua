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

-- Every integer a script computes stays below 2^53 (doubles are exact up to it): the engine
-- refuses an event whose worst case could reach it, and a session's grants stop short of it.
local EXACT_LIMIT = 9007199254740992

local POW10 = {}
do
  local x = 1
  for i = 0, 18 do POW10[i] = x; x = x * 10 end
end

-- The integer quotient and remainder of a / b (a >= 0, b > 0), exact below 2^53: the float
-- quotient is only a guess, corrected by the exact remainder.
local function divmod(a, b)
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then
    q, r = q - 1, r + b
  elseif r >= b then
    q, r = q + 1, r - b
  end
  return q, r
end

-- The rating arithmetic of tarif_catalog/units.py, function for function (a property test holds
-- them equal). `steps` {{start, size}...}; a schedule `q` {{start offset, pricing}...} whose
-- pricings carry `pr` {{up_to (-1 open), price per unit in 1/sc micro-units}...}.

-- Usage rounded up to the increments: the smallest boundary at or above `units`.
local function rated_units(units, steps)
  if units <= 0 then return 0 end
  local n = #steps
  local start, size = steps[n][1], steps[n][2]
  for k = 1, n - 1 do
    if units <= steps[k + 1][1] then
      start, size = steps[k][1], steps[k][2]
      break
    end
  end
  local whole, rest = divmod(units - start, size)
  if rest > 0 then whole = whole + 1 end
  return start + whole * size
end

-- The largest boundary at or below `offset` (how far whole increments reach).
local function floor_boundary(offset, steps)
  if offset <= 0 then return 0 end
  local n = #steps
  local start, size = steps[n][1], steps[n][2]
  for k = 1, n - 1 do
    if offset < steps[k + 1][1] then
      start, size = steps[k][1], steps[k][2]
      break
    end
  end
  local whole = divmod(offset - start, size)
  return start + whole * size
end

-- Scaled cost of offsets [a, b) under one rate's prices.
local function prices_cost(a, b, prices)
  local total, lower = 0, 0
  for _, tier in ipairs(prices) do
    local up = tier[1]
    local upper = b
    if up >= 0 and up < b then upper = up end
    local n = upper - math.max(a, lower)
    if n > 0 then total = total + n * tier[2] end
    if up < 0 or up >= b then break end
    lower = up
  end
  return total
end

-- Exact scaled cost of offsets [a, b) of a call priced by schedule `q` (additive in ranges).
local function range_cost(a, b, q)
  local total = 0
  for k = 1, #q do
    local nxt = q[k + 1]
    local lo = math.max(a, q[k][1])
    local hi = b
    if nxt and nxt[1] < b then hi = nxt[1] end
    if hi > lo then total = total + prices_cost(lo, hi, q[k][2].pr) end
    if nxt == nil or nxt[1] >= b then break end
  end
  return total
end

-- n / d rounded to an integer by method: up | half_up | half_even | down (n >= 0, d > 0).
local function round_div(n, d, method)
  local q, r = divmod(n, d)
  if r == 0 or method == 'down' then return q end
  if method == 'up' then return q + 1 end
  local twice = 2 * r
  if twice > d or (twice == d and (method == 'half_up' or q % 2 == 1)) then return q + 1 end
  return q
end

-- Round an exact scaled cost once: (amount in 10^-rd, the tariff's decimals; amount in the
-- currency's minor unit, the first rounded again by the same method when it has more decimals).
local function to_currency(scaled, p)
  local at_tariff = round_div(scaled, p.sc * POW10[6 - p.rd], p.rm)
  if p.rd <= p.d then return at_tariff, at_tariff * POW10[p.d - p.rd] end
  return at_tariff, round_div(at_tariff, POW10[p.rd - p.d], p.rm)
end

-- Money of a call rated up to `upto` whose first `free_part` offsets free units cover: the
-- connect fee (unless the free start waives it) plus the exact cost of the rest.
local function call_money(q, upto, free_part, waive)
  local fee = 0
  if upto > 0 and not (waive and free_part > 0) then fee = q[1][2].cf end
  return fee + range_cost(free_part, upto, q)
end

-- call_cost of units.py: what one call of `units` costs with `free_available` free units.
-- Returns rated, free, scaled, at_tariff, minor, capped, and the usage allowed (less than
-- `units` when a disconnecting cap cut the call).
local function call_cost(units, free_available, q, waive)
  local p = q[1][2]
  local steps = p.st
  local rated = rated_units(units, steps)
  local free = floor_boundary(math.min(rated, free_available), steps)
  local scaled = call_money(q, rated, free, waive)
  local capped, usage = false, units
  if p.mx >= 0 and scaled > p.mx then
    capped = true
    if p.dc then
      local lo, hi = 0, units -- the most usage whose cost stays within the cap
      while lo < hi do
        local mid = math.floor((lo + hi + 1) / 2)
        local upto = rated_units(mid, steps)
        if call_money(q, upto, math.min(free, upto), waive) <= p.mx then lo = mid else hi = mid - 1 end
      end
      usage = lo
      rated = rated_units(lo, steps)
      free = math.min(free, rated)
      scaled = call_money(q, rated, free, waive)
    else
      scaled = p.mx
    end
  end
  local at_tariff, minor = to_currency(scaled, p)
  return rated, free, scaled, at_tariff, minor, capped, usage
end

-- The bands of the pieces of `q` that offsets [a, b) touch (the piece at `a` when empty).
local function bands_of(q, a, b)
  local list, seen = {}, {}
  for k = 1, #q do
    local start, nxt = q[k][1], q[k + 1]
    local touched
    if b > a then
      touched = start < b and (nxt == nil or nxt[1] > a)
    else
      touched = start <= a and (nxt == nil or nxt[1] > a)
    end
    local band = q[k][2].b
    if touched and band ~= '' and not seen[band] then
      seen[band] = true
      list[#list + 1] = band
    end
  end
  return list
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
      -- res|from|to|prio|floor, then optionally |1 (its free units waive the connect fee)
      local res, vf, vt, prio, floor, flags =
        string.match(v, '^([^|]+)|(%-?%d+)|(%-?%d+)|(%-?%d+)|(%-?%d+)(.*)$')
      if res then
        acct.bal[bid] = { id = bid, ref = bid, key = key, res = res, from = tonumber(vf),
                          to = tonumber(vt), prio = tonumber(prio), floor = tonumber(floor),
                          w = flags == '|1' }
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

-- A member's usage of a capped resource is counted per cycle (`u:<member>:<res>:<cycle>`); the
-- group hash keeps the member's latest two cycles of it (a late event may still fall in the one
-- before) and deletes the older one when a newer cycle begins, so it does not grow with the
-- cycles. `u:<member>:<res>:cycles` holds "latest|previous" (copied with the usage fields when a
-- group is rewritten); usage fields written before it existed are left as they are.
local function note_cycle(g, member_id, res, cycle, seen)
  local latest, previous = '', ''
  if seen then latest, previous = string.match(seen, '^([^|]*)|(.*)$') end
  if latest == nil then latest, previous = '', '' end
  if cycle <= latest then return end
  local base = 'u:' .. member_id .. ':' .. res .. ':'
  if previous ~= '' then redis.call('HDEL', g.key, base .. previous) end
  redis.call('HSET', g.key, base .. 'cycles', cycle .. '|' .. latest)
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
    local v = redis.call('HMGET', g.key, 'r:' .. res, 'u:' .. field,
      'u:' .. member_id .. ':' .. res .. ':cycles')
    g.caps[res] = tonumber(v[1]) or false
    g.used[field] = tonumber(v[2]) or 0
    if g.caps[res] and g.caps[res] >= 0 then note_cycle(g, member_id, res, cycle, v[3]) end
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

-- Whether the first balance of `list` that can give units waives the connect fee (a call that
-- starts on a bundle's free units).
local function first_waives(list)
  for _, b in ipairs(list) do
    if available(b) > 0 then return b.w == true end
  end
  return false
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
      -- a field of a cycle deleted since (`note_cycle`) is not written again
      if redis.call('HEXISTS', acct.group.key, field) == 1 then
        redis.call('HINCRBY', acct.group.key, field, fmt(-x))
      end
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
-- `...` adds the optional field/value pairs (`ref`, `reason`, `rq`).
-- Compact form: one stream field `r` holding the values in the order of the arguments, then the
-- optional names and values, joined by the unit separator (\31): one XADD argument instead of
-- 34 to 40, and a third of the AOF bytes. While `batched_records` is a table (a script charging
-- several events sets it), compact records are collected there and written by
-- `flush_records` as one entry of the stream, field `rs`: the records joined by the record
-- separator (\30). A record whose text holds either byte itself (never written by the engine's
-- ids and JSON, but not excluded) keeps the long form, one stream field per record field, in an
-- entry of its own; readers take all three forms (tarif_balances/records.py).
local RECORD_SEP, RECORDS_SEP = '\31', '\30'
local batched_records = nil
local function add_record(stream, id, kind, account_id, sub, svc, rate, t, now, u, ru, cost, cur,
                          dec, imp, unc, sid, attrs, ...)
  local values = { id, kind, account_id, sub, svc, rate, fmt(t), fmt(now), fmt(u), fmt(ru),
                   fmt(cost), cur, fmt(dec), imp, fmt(unc), sid, attrs, ... }
  -- The values run together must hold neither separator: two plain scans (memchr) of one
  -- string, cheaper than counting the separators of the joined text with gsub (a pattern match
  -- at every byte and a copy of the text).
  local bare = table.concat(values)
  if not string.find(bare, RECORD_SEP, 1, true) and not string.find(bare, RECORDS_SEP, 1, true) then
    local text = table.concat(values, RECORD_SEP)
    if batched_records then
      batched_records[#batched_records + 1] = text
    else
      redis.call('XADD', stream, '*', 'r', text)
    end
    return
  end
  redis.call('XADD', stream, '*', 'id', id, 'k', kind, 'acct', account_id, 'sub', sub, 'svc', svc,
    'rate', rate, 't', fmt(t), 'at', fmt(now), 'u', fmt(u), 'ru', fmt(ru), 'cost', fmt(cost),
    'cur', cur, 'dec', fmt(dec), 'imp', imp, 'unc', fmt(unc), 'sid', sid, 'attrs', attrs, ...)
end

-- Write the records collected since `batched_records` was set, as one stream entry.
local function flush_records(stream)
  if batched_records and #batched_records > 0 then
    redis.call('XADD', stream, '*', 'rs', table.concat(batched_records, RECORDS_SEP))
  end
  batched_records = nil
end

-- The optional `rq` field of a record: the request id of the call (nil or '': none, no field).
-- Called last in add_record's arguments, so it adds the pair or nothing.
local function request_field(rq)
  if rq and rq ~= '' then return 'rq', rq end
end

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end

-- A session opened before rating by offsets kept its rate as `p` (increments i1/i2, tiers
-- {up_to, price, per} over money units, rounded up): it goes on under the same terms in the
-- schedule form. Its money so far is taken as the tail of its rated units, and it never pays
-- back what it was already charged.
local function upgrade_session(s)
  if s.q then return end
  local o = s.p
  local scale = 1
  for _, t in ipairs(o.tiers) do scale = scale / gcd(scale, t[3]) * t[3] end
  local prices = {}
  for i, t in ipairs(o.tiers) do prices[i] = { t[1], t[2] * (scale / t[3]) } end
  local steps = { { 0, o.i1 } }
  if o.i2 ~= o.i1 then steps[2] = { o.i1, o.i2 } end
  local p = { svc = o.svc, mr = o.mr, cur = o.cur, d = o.d, mo = o.mo, fr = o.fr, cf = o.cf * scale,
              st = steps, pr = prices, sc = scale, rd = o.d, rm = 'up', mx = -1, dc = false,
              t = o.t, b = '' }
  s.q = { { 0, p } }
  s.r = o.r
  s.x = string.match(o.r, '^[^:]*:([^:]*)') or ''
  if s.x == '*' then s.x = '' end
  s.f, s.w, s.ct = s.fu, false, s.cm
  s.mt = range_cost(s.ru - s.mu, s.ru, s.q)
  s.p, s.fu, s.mu = nil, nil, nil
end

-- A record for a session released at expiry: nothing charged, so billing sees the abandonment.
local function add_expired_record(stream, account_id, sid, s, now)
  upgrade_session(s)
  local p = s.q[1][2]
  add_record(stream, 's:' .. sid .. '#expired', 'expired', account_id, s.sub, p.svc, s.r, now,
    now, 0, 0, 0, p.cur, p.d, '', 0, sid, s.attrs)
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

-- Fields an answer leaves out when they hold their default (readers take the default: an answer
-- kept before, which has them, reads the same): empty lists, no notification, no prefix.
local DEFAULTS = { imp = true, bs = true, rb = true, n = 0, x = '' }

-- Pack an answer and keep it under the request's idempotency key: a replay gets it back as is.
-- `h` (the request's fingerprint; nil or '' when none) is kept with it as field `h`. Default
-- values are left out (`DEFAULTS`; `rd` when it equals `d`).
local function keep_answer(idem_key, ttl, answer, h)
  if h and h ~= '' then answer.h = h end
  for name, default in pairs(DEFAULTS) do
    local v = answer[name]
    if v == default or (default == true and type(v) == 'table' and next(v) == nil) then
      answer[name] = nil
    end
  end
  if answer.rd ~= nil and answer.rd == answer.d then answer.rd = nil end
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
