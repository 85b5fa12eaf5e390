#pragma once
// Supervised background tasks: every long-lived coroutine is started through
// spawn_supervised, which names it, logs an exception that ends it (stderr, with the task's
// name), counts it (TaskFailures: mangaassist_task_failures_total{task} on /metrics), and
// then restarts it after a bounded backoff or stops the process cleanly, as its Policy says.
// Nothing long-lived is spawned `detached` (where an exception ends a task silently).
//
// A task that returns normally is done: it is not restarted (a dispatcher with nothing left
// to do, a watcher whose clock was cancelled, an accept loop whose listener closed).
//
// One-shot coroutines that are not background tasks (one connection's session, writer or
// message) end with their connection; report_failures(task) is their completion handler, so
// that an exception there is logged and counted instead of swallowed.
//
// Waits go through the injected Clock, so a restart's backoff runs on SimClock in tests and
// in the simulator. Thread safety: spawn_supervised and TaskFailures may be used from any
// thread; the supervising coroutine runs on the executor it was given.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/time.hpp"

namespace ma::core {

// Failures of supervised tasks, by task name. The names come from code (a fixed set), so the
// label set is bounded. Thread-safe (one mutex, taken at spawn and at failure: both rare).
class TaskFailures final {
 public:
  TaskFailures() = default;
  TaskFailures(const TaskFailures&) = delete;
  TaskFailures& operator=(const TaskFailures&) = delete;

  // Makes `task` known with no failures (so its series reads 0 before the first one).
  void add_task(std::string_view task);
  void record(std::string_view task);
  std::uint64_t failures(std::string_view task) const;
  // Every known task and its failures, by name.
  std::vector<std::pair<std::string, std::uint64_t>> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t, std::less<>> counts_;
};

// The process's failure counts: what spawn_supervised records by default and /metrics shows.
// NOTE: process-wide, so that layers below observe (admission, the cache maintenance) are
// supervised without a metrics registry threaded through their constructors; a test that
// needs its own counts passes its own TaskFailures.
TaskFailures& task_failures();

// What happens when a task ends with an exception.
struct SupervisePolicy {
  enum class Action : std::uint8_t {
    kRestart,  // run a fresh one after the backoff (doubling from `first_backoff` up to
               // `max_backoff`; back to `first_backoff` after a run that lasted max_backoff)
    kStop,     // call the stop handler (a clean shutdown of the process), do not restart
  };
  Action action = Action::kRestart;
  Duration first_backoff = std::chrono::milliseconds(100);
  Duration max_backoff = std::chrono::seconds(10);

  static SupervisePolicy restart(Duration first = std::chrono::milliseconds(100),
                                 Duration max = std::chrono::seconds(10)) {
    return {Action::kRestart, first, max};
  }
  static SupervisePolicy stop() { return {Action::kStop, {}, {}}; }
};

// Makes a fresh run of the task (called once per start and per restart).
using TaskFactory = std::function<boost::asio::awaitable<void>()>;

struct Supervision {
  std::string task;  // the name in logs and in the metric's label
  SupervisePolicy policy;
  // kStop: called once, on the task's executor, after the failure is logged and counted.
  std::function<void()> on_stop;
  TaskFailures* failures = &task_failures();
};

// Starts `factory()` on `executor`, supervised. REQUIRES: `clock`, and whatever the factory's
// tasks use, outlive the supervision (it ends with the executor's context, like the task).
void spawn_supervised(const boost::asio::any_io_executor& executor, Clock& clock,
                      TaskFactory factory, Supervision supervision);

// Logs (stderr) and counts one failure of `task`.
void report_task_failure(std::string_view task, const std::exception_ptr& e,
                         TaskFailures& failures = task_failures(),
                         std::string_view then = "it is not restarted");

// A co_spawn completion handler for a one-shot coroutine: an exception is reported
// (report_task_failure), not rethrown, not swallowed.
struct ReportFailures {
  std::string task;
  TaskFailures* failures = &task_failures();
  std::string_view then = "the connection ends";  // what the log line says happens next
  void operator()(const std::exception_ptr& e) const {
    if (e) report_task_failure(task, e, *failures, then);
  }
};
inline ReportFailures report_failures(std::string task) { return ReportFailures{std::move(task)}; }

}  // namespace ma::core
