#include "observe/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ma::observe {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  stride_ = (bounds_.size() + 3 + Line::kCells - 1) / Line::kCells * Line::kCells;
  lines_ = std::make_unique<Line[]>(stride_ * core::kThreadSlots / Line::kCells);
}

void Histogram::observe(double v) {
  const std::size_t b = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  const std::size_t slot = core::thread_slot();
  cell(slot, b).fetch_add(1, std::memory_order_relaxed);
  cell(slot, count_index()).fetch_add(1, std::memory_order_relaxed);
  cell(slot, sum_index())
      .fetch_add(static_cast<std::uint64_t>(std::llround(v * 1e6)), std::memory_order_relaxed);
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 5, 10, 30};
}

Family<Counter>& MetricsRegistry::counter(std::string name, std::string help,
                                          std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  counters_.push_back(
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(labels)));
  order_.emplace_back(MetricType::kCounter, counters_.size() - 1);
  return *counters_.back();
}

Family<Gauge>& MetricsRegistry::gauge(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  return gauge_family(std::move(name), std::move(help), std::move(labels), MetricType::kGauge);
}

Family<Gauge>& MetricsRegistry::total(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  return gauge_family(std::move(name), std::move(help), std::move(labels), MetricType::kTotal);
}

Family<Gauge>& MetricsRegistry::gauge_family(std::string name, std::string help,
                                             std::vector<std::string> labels, MetricType type) {
  std::lock_guard lock(mu_);
  gauges_.push_back(
      std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(labels)));
  order_.emplace_back(type, gauges_.size() - 1);
  return *gauges_.back();
}

Family<Histogram>& MetricsRegistry::histogram(std::string name, std::string help,
                                              std::vector<double> bounds,
                                              std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(std::move(name), std::move(help),
                                                            std::move(labels), std::move(bounds)));
  order_.emplace_back(MetricType::kHistogram, histograms_.size() - 1);
  return *histograms_.back();
}

void MetricsRegistry::add_collector(std::function<void()> c) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(c));
}

namespace {

void escape_label(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
}

std::string labels_text(const std::vector<std::string>& names,
                        const std::vector<std::string>& values, std::string_view extra_name = {},
                        std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"";
    escape_label(out, i < values.size() ? values[i] : "");
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  return out + "}";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void header(std::string& out, const std::string& name, const std::string& help,
            std::string_view type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + std::string(type) + "\n";
}

}  // namespace

std::string MetricsRegistry::render() {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(16 * 1024);
  for (auto [type, idx] : order_) {
    if (type == MetricType::kCounter) {
      auto& f = *counters_[idx];
      header(out, f.name(), f.help(), "counter");
      f.each([&](const std::vector<std::string>& values, Counter& c) {
        out += f.name() + labels_text(f.labels(), values) + " " + std::to_string(c.value()) + "\n";
      });
    } else if (type == MetricType::kGauge || type == MetricType::kTotal) {
      auto& f = *gauges_[idx];
      header(out, f.name(), f.help(), type == MetricType::kTotal ? "counter" : "gauge");
      f.each([&](const std::vector<std::string>& values, Gauge& g) {
        out += f.name() + labels_text(f.labels(), values) + " " + number(g.value()) + "\n";
      });
    } else {
      auto& f = *histograms_[idx];
      header(out, f.name(), f.help(), "histogram");
      f.each([&](const std::vector<std::string>& values, Histogram& h) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          const std::string le = i < h.bounds().size() ? number(h.bounds()[i]) : "+Inf";
          out += f.name() + "_bucket" + labels_text(f.labels(), values, "le", le) + " " +
                 std::to_string(cumulative) + "\n";
        }
        out += f.name() + "_sum" + labels_text(f.labels(), values) + " " + number(h.sum()) + "\n";
        out += f.name() + "_count" + labels_text(f.labels(), values) + " " +
               std::to_string(h.count()) + "\n";
      });
    }
  }
  return out;
}

}  // namespace ma::observe
