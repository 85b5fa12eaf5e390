#pragma once
// The sampling rules as a runtime switch (seed incident 4's runbook: trace everything during
// an incident, then go back). The configured rules (observe.sampling_rules, or the X-Ray
// default) are in force until an operator puts runtime rules in their place through
// PUT /admin/sampling, optionally with an expiry; DELETE /admin/sampling, or the expiry,
// puts the configured rules back. The Sampler the request path uses is swapped in place
// (Sampler::replace), so nothing that holds it notices.
//
// In a fleet, a change travels as a SamplingChange in JSON (to_fleet_json) through the shared
// state; the expiry is a wall time carried with the rules, so every server reverts at the
// same moment (by its own clock), a server that joins late included.
//
// The changes of a fleet are in one total order, and the last one wins: every change (a
// revert too) carries a stamp from a hybrid logical clock -- (stamp_ms, stamp_seq, origin),
// SamplingChange::order_key -- and a switch puts a change in force only when it comes after
// the last one it applied. So a server's own change coming back from the fleet, or an older
// change delivered late, changes nothing, and every server ends on the same change whatever
// order they heard of them in. A change made here is stamped after every change applied here
// (apply_new), so it is in force at once, here and on every server that had applied those.
// NOTE: two changes made on two servers at the same time, neither having heard of the other,
// are ordered by their origins' wall clocks (keep them synchronised): the later one wins.
//
// Thread safety: every member is safe to call from any thread (one mutex, never held on the
// request path: requests only read the Sampler). The listener runs after the mutex is
// released, on the thread that made the change.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "observe/sampling.hpp"

namespace ma::observe {

// Where the rules in force come from.
enum class SamplingSource : std::uint8_t {
  kDefault,  // no observe.sampling_rules: the X-Ray SDK default
  kConfig,   // the observe.sampling_rules file, read at start
  kRuntime,  // PUT /admin/sampling, here or on another server of the fleet
};
std::string_view to_string(SamplingSource s);  // "default" | "config" | "runtime"

// One change: runtime rules, or back to the configured ones.
struct SamplingChange {
  std::optional<SamplingRules> rules;        // nullopt: back to the configured rules
  std::optional<core::WallTime> reverts_at;  // runtime rules only: when they go by themselves
  std::string set_by = "admin";              // who asked (the body's "set_by")
  std::string origin;                        // the server that took the request ("" unknown)
  core::WallTime set_at{};
  // Its place in the fleet's order of changes (filled in by SamplingSwitch::apply_new): the
  // origin's wall time in Unix milliseconds, or later -- never before a change the origin had
  // applied; stamp_seq orders changes within one millisecond; the origin breaks a tie.
  std::int64_t stamp_ms = 0;
  std::uint32_t stamp_seq = 0;

  // The order as a string that sorts, byte by byte (unsigned), as the changes do:
  // "<stamp_ms, 15 digits>.<stamp_seq, 10 digits>.<origin>". Redis keeps the fleet's latest
  // change by it.
  std::string order_key() const;
};

// The rules in force, and where they come from.
struct SamplingState {
  SamplingSource source = SamplingSource::kDefault;
  std::shared_ptr<const SamplingRules> rules;
  // Runtime rules only (empty, nullopt otherwise).
  std::string set_by, origin;
  std::optional<core::WallTime> set_at, reverts_at;
};

enum class SamplingEvent : std::uint8_t {
  kRuntime,   // runtime rules were put in force
  kReverted,  // the configured rules are back, on request
  kExpired,   // the configured rules are back: the runtime rules' time ran out
};
std::string_view to_string(SamplingEvent e);  // "runtime" | "revert" | "expiry"

class SamplingSwitch final {
 public:
  // The longest expiry a request may ask for.
  static constexpr std::chrono::seconds kMaxExpiry{7 * 24 * 3600};
  using Listener = std::function<void(SamplingEvent, const SamplingState&)>;

  // Puts `configured` in force in `sampler`: the rules of `config_file`, or the default
  // when `config_file` is empty. `listener` hears of every change. REQUIRES: `sampler` and
  // `clock` outlive the switch.
  SamplingSwitch(Sampler& sampler, const core::Clock& clock, SamplingRules configured,
                 std::string config_file, Listener listener = {});
  SamplingSwitch(const SamplingSwitch&) = delete;
  SamplingSwitch& operator=(const SamplingSwitch&) = delete;

  // PUT /admin/sampling's body, read (nothing changes). One of:
  //   a local rules document, version 1 or 2 (as observe.sampling_rules takes): no expiry;
  //   {"rules": <document>, "expires_in_s": 3600, "set_by": "oncall"};
  //   {"fixed_rate": 1.0, "fixed_target": 0, "expires_in_s": 1800, "set_by": "oncall"}: only a
  //     default rule (fixed_target defaults to 0: exactly that share);
  //   {"revert": true}: back to the configured rules.
  // expires_in_s (optional): more than 0, at most kMaxExpiry; `now` + that is reverts_at.
  // Errors: "invalid_sampling_rules" (the document) or "invalid_field", naming what is wrong.
  static core::Result<SamplingChange> parse_request(const boost::json::value& body,
                                                    core::WallTime now);

  // A change asked for on this server (PUT or DELETE /admin/sampling): stamped after every
  // change applied here so far, and put in force. `change.origin` is this server's name.
  struct Applied {
    SamplingChange change;  // as stamped: what the fleet is to be told
    SamplingState state;    // in force now
  };
  Applied apply_new(SamplingChange change);
  // A change from the fleet (stamped at its origin; this server's own ones come back too):
  // put in force when it comes after the last change applied here, ignored otherwise (the
  // same change again, or one it superseded). Returns the state now in force. A change whose
  // reverts_at has passed reverts (an expiry); a revert while the configured rules are in
  // force changes nothing but the order (an older change arriving after it is ignored).
  SamplingState apply(const SamplingChange& change);
  // Reverts the runtime rules once their reverts_at has passed on the clock's wall time.
  // True when it reverted now. Called every second by the server, and by state().
  bool expire();
  // The state in force (after expire()).
  SamplingState state();

  // A change as the fleet carries it, and back:
  //   {"rules": <version 2 document> | null, "set_by", "origin", "set_at", "reverts_at",
  //    "stamp_ms", "stamp_seq"}
  // with times in RFC 3339 (milliseconds) and reverts_at null when there is none.
  static std::string to_fleet_json(const SamplingChange& change);
  static core::Result<SamplingChange> from_fleet_json(std::string_view json);

  // GET /admin/sampling: source, description, rules (a version 2 document), set_by, origin,
  // set_at, reverts_at, reverts_in_s (runtime rules only), and what a revert goes back to
  // ("configured": source, file, description).
  boost::json::object to_json(const SamplingState& st) const;
  // /status's "sampling": source, description, default_rate, default_fixed_target,
  // other_rules, reverts_at (null when none).
  static boost::json::object status_json(const SamplingState& st);

  // Changes made so far, by kind (SamplingEvent).
  struct Counts {
    std::uint64_t runtime = 0, reverted = 0, expired = 0;
  };
  Counts counts() const;

 private:
  // Puts `change` in force and makes it the last change applied. REQUIRES: mu_ held and
  // `change` after last_key_.
  std::optional<SamplingEvent> apply_locked(const SamplingChange& change, std::string key);
  // Puts the configured rules back. REQUIRES: mu_ held and runtime rules in force.
  void revert_locked(SamplingEvent why);
  SamplingState state_locked() const;
  void notify(SamplingEvent e, const SamplingState& st) const;

  Sampler& sampler_;
  const core::Clock& clock_;
  const std::shared_ptr<const SamplingRules> configured_;
  const std::string config_file_;
  const Listener listener_;

  mutable std::mutex mu_;
  std::shared_ptr<const SamplingRules> in_force_;  // configured_ or the runtime rules
  std::optional<SamplingChange> runtime_;          // the change in force (its rules unset)
  // The last change applied (a revert too): the greatest order seen. "" before any.
  std::string last_key_;
  std::int64_t last_ms_ = 0;
  std::uint32_t last_seq_ = 0;
  Counts counts_;
};

}  // namespace ma::observe
