#include "core/supervised.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <cstdio>

namespace ma::core {

namespace asio = boost::asio;

void TaskFailures::add_task(std::string_view task) {
  std::lock_guard lock(mu_);
  if (counts_.find(task) == counts_.end()) counts_.emplace(std::string(task), 0);
}

void TaskFailures::record(std::string_view task) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(task);
  if (it == counts_.end()) it = counts_.emplace(std::string(task), 0).first;
  ++it->second;
}

std::uint64_t TaskFailures::failures(std::string_view task) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(task);
  return it == counts_.end() ? 0 : it->second;
}

std::vector<std::pair<std::string, std::uint64_t>> TaskFailures::snapshot() const {
  std::lock_guard lock(mu_);
  return {counts_.begin(), counts_.end()};
}

TaskFailures& task_failures() {
  static TaskFailures* failures = new TaskFailures();  // never destroyed: used until exit
  return *failures;
}

void report_task_failure(std::string_view task, const std::exception_ptr& e, TaskFailures& failures,
                         std::string_view then) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  failures.record(task);
  std::fprintf(stderr, "mangaassist: task %.*s failed: %s; %.*s\n", static_cast<int>(task.size()),
               task.data(), what.c_str(), static_cast<int>(then.size()), then.data());
}

namespace {

std::string restart_note(Duration backoff) {
  return "restarting in " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count()) +
         " ms";
}

asio::awaitable<void> supervise(Clock& clock, TaskFactory factory, Supervision s) {
  const SupervisePolicy& policy = s.policy;
  Duration backoff = policy.first_backoff;
  for (;;) {
    const TimePoint started = clock.now();
    std::exception_ptr failure;
    try {
      co_await factory();
      co_return;  // done: not restarted
    } catch (...) {
      failure = std::current_exception();
    }
    if (policy.action == SupervisePolicy::Action::kStop) {
      report_task_failure(s.task, failure, *s.failures, "stopping the server");
      if (s.on_stop) s.on_stop();
      co_return;
    }
    // A run that lasted a while was healthy: its failure starts the backoff over.
    if (clock.now() - started >= policy.max_backoff) backoff = policy.first_backoff;
    report_task_failure(s.task, failure, *s.failures, restart_note(backoff));
    if (!co_await clock.wait_for(backoff)) co_return;  // cancelled: the context is going
    backoff = std::min(backoff * 2, policy.max_backoff);
  }
}

}  // namespace

void spawn_supervised(const asio::any_io_executor& executor, Clock& clock, TaskFactory factory,
                      Supervision supervision) {
  supervision.failures->add_task(supervision.task);
  // The supervisor itself only fails if logging does (out of memory): report that too.
  ReportFailures report{supervision.task + "_supervisor", supervision.failures,
                        "it is not restarted"};
  asio::co_spawn(executor, supervise(clock, std::move(factory), std::move(supervision)),
                 std::move(report));
}

}  // namespace ma::core
