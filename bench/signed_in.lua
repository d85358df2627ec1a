-- wrk script: every request carries a signed-in person's session cookie and CSRF token,
-- as htmx sends them, and every answer is checked.
--
-- wrk has no per-connection hook, so run it with one thread per connection
-- (wrk -tN -cN). Each thread takes every person in turn, request by request, starting
-- from a person of its own: the connections send as different people at any moment, and
-- each person sends only a share of the run's messages, as people do.
--
-- Environment:
--   BENCH_PEOPLE  a file with one "SESSION_ID CSRF_TOKEN" line per person
--   BENCH_METHOD  GET or POST
--   BENCH_BODY    the urlencoded form to POST (optional)
--   BENCH_EXPECT  text that the body of every good answer (status 200) contains
--
-- Or, as a provider posts its reports, a different body on every request:
--   BENCH_BODIES         a file with one JSON body per line, POSTed in place of people;
--                        thread k of N takes lines k, k + N, ..., so none is posted twice
--                        while the file lasts
--   BENCH_CONNECTIONS    N
--   BENCH_AUTHORIZATION  the Authorization header of every request
--
-- done() prints one line, "wrk-result {JSON}", which bench/load.py reads.

local people = {}
local threads = {}

local function read_people()
  for line in io.lines(os.getenv("BENCH_PEOPLE")) do
    local session, csrf = line:match("^(%S+) (%S+)$")
    table.insert(people, { session = session, csrf = csrf })
  end
end

function setup(thread)
  thread:set("first", #threads)
  table.insert(threads, thread)
end

function init(args)
  good, bad = 0, 0
  expect = os.getenv("BENCH_EXPECT")
  local body = os.getenv("BENCH_BODY")
  -- Each request, built once: that keeps wrk cheap.
  prepared = {}
  turn = 0
  if os.getenv("BENCH_BODIES") then
    return prepare_bodies()
  end
  read_people()
  for _, person in ipairs(people) do
    local headers = {
      ["Cookie"] = "sessionid=" .. person.session .. "; csrftoken=" .. person.csrf,
      ["X-CSRFToken"] = person.csrf,
      ["HX-Request"] = "true",
    }
    if body then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
    table.insert(prepared, wrk.format(os.getenv("BENCH_METHOD"), nil, headers, body))
  end
  turn = first
end

function prepare_bodies()
  local headers = {
    ["Authorization"] = os.getenv("BENCH_AUTHORIZATION"),
    ["Content-Type"] = "application/json",
  }
  local connections = tonumber(os.getenv("BENCH_CONNECTIONS"))
  local number = 0
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if number % connections == first then
      table.insert(prepared, wrk.format("POST", nil, headers, line))
    end
    number = number + 1
  end
end

function request()
  turn = turn % #prepared + 1
  return prepared[turn]
end

function response(status, headers, body)
  if status == 200 and body:find(expect, 1, true) then
    good = good + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local good_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    good_total = good_total + thread:get("good")
    bad_total = bad_total + thread:get("bad")
  end
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    'wrk-result {"requests": %d, "duration_us": %d, "good": %d, "bad": %d, '
      .. '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, good_total, bad_total, socket_errors,
    latency:percentile(50), latency:percentile(99), latency.max
  ))
end
