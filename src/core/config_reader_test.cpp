#include "core/config_reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/text.hpp"

namespace ma::core {
namespace {

using namespace std::chrono_literals;

enum class Color : std::uint8_t { kRed, kGreen, kBlue };
constexpr EnumName<Color> kColors[] = {
    {"red", Color::kRed}, {"green", Color::kGreen}, {"blue", Color::kBlue}};

class TomlReaderTest : public ::testing::Test {
 protected:
  // Parses `text` and returns a reader over it (the table lives in the fixture).
  TomlReader reader(std::string_view text) {
    table_ = toml::parse(text);
    return TomlReader(table_, "invalid_config");
  }
  // The message of the reader's error ("" when none).
  static std::string message(const TomlReader& r) {
    const auto st = r.status();
    return st.ok() ? "" : st.error().message;
  }

  toml::table table_;
};

TEST_F(TomlReaderTest, ReadsEachTypeIntoItsField) {
  auto r = reader(
      "flag = true\nname = \"x\"\nrate = 2.5\ncount = 7\nwait_ms = 250\nevery_s = 3\n"
      "hosts = [\"a\", \"b\"]\ncolor = \"blue\"\n");
  bool flag = false;
  std::string name;
  double rate = 0;
  int count = 0;
  Duration wait{}, every{};
  std::vector<std::string> hosts;
  Color color = Color::kRed;
  EXPECT_TRUE(r.read("flag", flag));
  EXPECT_TRUE(r.read("name", name));
  EXPECT_TRUE(r.read("rate", rate));
  EXPECT_TRUE(r.read("count", count));
  EXPECT_TRUE(r.read_ms("wait_ms", wait));
  EXPECT_TRUE(r.read_seconds("every_s", every));
  EXPECT_TRUE(r.read("hosts", hosts));
  EXPECT_TRUE(r.read_enum("color", color, kColors));
  EXPECT_TRUE(r.ok()) << message(r);
  EXPECT_TRUE(flag);
  EXPECT_EQ(name, "x");
  EXPECT_EQ(rate, 2.5);
  EXPECT_EQ(count, 7);
  EXPECT_EQ(wait, 250ms);
  EXPECT_EQ(every, 3s);
  EXPECT_EQ(hosts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(color, Color::kBlue);
}

TEST_F(TomlReaderTest, AbsentKeysLeaveTheDefaults) {
  auto r = reader("other = 1\n");
  int count = 4;
  std::string name = "default";
  std::optional<double> rate;
  Duration wait = 5s;
  EXPECT_FALSE(r.read("count", count));
  EXPECT_FALSE(r.read("name", name));
  EXPECT_FALSE(r.read("rate", rate));
  EXPECT_FALSE(r.read_ms("wait_ms", wait));
  EXPECT_FALSE(r.table("sub").has_value());
  EXPECT_TRUE(r.tables("list").empty());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(count, 4);
  EXPECT_EQ(name, "default");
  EXPECT_FALSE(rate.has_value());
  EXPECT_EQ(wait, 5s);
}

TEST_F(TomlReaderTest, NumbersAcceptIntegersAndWholeNumbersAcceptWholeFloats) {
  auto r = reader("rate = 3\nusers = 2e5\n");
  double rate = 0;
  int users = 0;
  EXPECT_TRUE(r.read("rate", rate));
  EXPECT_TRUE(r.read("users", users));
  EXPECT_EQ(rate, 3.0);
  EXPECT_EQ(users, 200'000);
}

TEST_F(TomlReaderTest, AValueOfTheWrongTypeIsAnErrorNamingTheKeyAndTheType) {
  struct Case {
    const char* toml;
    const char* expected;  // a part of the message
  };
  for (const Case& c : {
           Case{"port = \"80\"", "port must be a whole number, not a string"},
           Case{"port = 80.5", "port must be a whole number, not a float"},
           Case{"flag = 1", "flag must be true or false, not an integer"},
           Case{"name = 5", "name must be a string, not an integer"},
           Case{"rate = \"fast\"", "rate must be a number, not a string"},
           Case{"rate = true", "rate must be a number, not a boolean"},
           Case{"wait_ms = 1.5", "wait_ms must be a whole number, not a float"},
           Case{"hosts = \"a\"", "hosts must be a list of strings, not a string"},
           Case{"hosts = [\"a\", 2]", "hosts must be a list of strings, not a list holding an"},
           Case{"color = 2", "color must be red, green or blue, not an integer"},
       }) {
    auto r = reader(c.toml);
    int port = 0;
    bool flag = false;
    std::string name;
    double rate = 0;
    Duration wait{};
    std::vector<std::string> hosts;
    Color color = Color::kRed;
    r.read("port", port);
    r.read("flag", flag);
    r.read("name", name);
    r.read("rate", rate);
    r.read_ms("wait_ms", wait);
    r.read("hosts", hosts);
    r.read_enum("color", color, kColors);
    ASSERT_FALSE(r.ok()) << c.toml;
    EXPECT_EQ(r.status().error().code, "invalid_config");
    EXPECT_NE(message(r).find(c.expected), std::string::npos) << message(r);
  }
}

TEST_F(TomlReaderTest, NumbersOutOfTheFieldsRangeAreRefused) {
  {
    auto r = reader("port = 70000\n");
    std::uint16_t port = 1;
    EXPECT_FALSE(r.read("port", port));
    EXPECT_EQ(message(r), "port must be 0-65535");
    EXPECT_EQ(port, 1);
  }
  {
    auto r = reader("entries = -1\n");
    std::size_t entries = 1;
    EXPECT_FALSE(r.read("entries", entries));
    EXPECT_EQ(message(r), "entries must be >= 0");
  }
  {
    auto r = reader("queued = 100\n");
    std::size_t queued = 0;
    EXPECT_FALSE(r.read("queued", queued, 16 * 1024));
    EXPECT_EQ(message(r), "queued must be >= 16384");
  }
  {
    auto r = reader("count = 3000000000\n");
    int count = 0;
    EXPECT_FALSE(r.read("count", count));
    EXPECT_NE(message(r).find("count must be -2147483648-2147483647"), std::string::npos);
  }
  {
    // Milliseconds whose nanoseconds would overflow.
    auto r = reader("wait_ms = 9000000000000000\n");
    Duration wait{};
    EXPECT_FALSE(r.read_ms("wait_ms", wait));
    EXPECT_NE(message(r).find("wait_ms must be"), std::string::npos);
  }
}

TEST_F(TomlReaderTest, OptionalsAreSetOnlyWhenPresent) {
  auto r = reader("attempts = 2\nmode = \"v1\"\n");
  std::optional<int> attempts;
  std::optional<bool> guard;
  std::optional<std::string> mode;
  EXPECT_TRUE(r.read("attempts", attempts));
  EXPECT_FALSE(r.read("guard", guard));
  EXPECT_TRUE(r.read_enum("mode", mode, {"v1", "v2"}));
  EXPECT_EQ(attempts, 2);
  EXPECT_FALSE(guard.has_value());
  EXPECT_EQ(mode, "v1");
}

TEST_F(TomlReaderTest, AnUnknownNameListsTheAllowedOnes) {
  auto r = reader("color = \"purple\"\n");
  Color color = Color::kGreen;
  EXPECT_FALSE(r.read_enum("color", color, kColors));
  EXPECT_EQ(message(r), "color must be red, green or blue, not \"purple\"");
  EXPECT_EQ(color, Color::kGreen);
}

TEST_F(TomlReaderTest, UnknownKeysAreNamedWithTheirPath) {
  auto r = reader("[server]\nport = 1\nprot = 2\n");
  r.check_keys({"server"});
  EXPECT_TRUE(r.ok());
  auto s = r.table("server");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->prefix(), "server.");
  s->check_keys({"port"});
  EXPECT_EQ(message(r), "unknown key server.prot");
}

TEST_F(TomlReaderTest, NestedTablesAndArraysOfTablesAreNamedWithTheirPath) {
  auto r = reader(
      "[models.sonnet]\nrate = 1\n[[models.sonnet.fault]]\nkind = \"a\"\n"
      "[[models.sonnet.fault]]\nkind = 7\n");
  auto models = r.table("models");
  ASSERT_TRUE(models);
  auto sonnet = models->table("sonnet");
  ASSERT_TRUE(sonnet);
  auto faults = sonnet->tables("fault");
  ASSERT_EQ(faults.size(), 2u);
  std::string kind;
  EXPECT_TRUE(faults[0].read("kind", kind));
  EXPECT_EQ(kind, "a");
  EXPECT_FALSE(faults[1].read("kind", kind));
  // The error is the document's: the root reader reports it.
  EXPECT_EQ(message(r), "models.sonnet.fault.kind must be a string, not an integer");
}

TEST_F(TomlReaderTest, ATableOrListOfTablesOfAnotherTypeIsAnError) {
  {
    auto r = reader("server = 5\n");
    EXPECT_FALSE(r.table("server").has_value());
    EXPECT_EQ(message(r), "server must be a table ([server]), not an integer");
  }
  {
    auto r = reader("abuse = [1]\n");
    EXPECT_TRUE(r.tables("abuse").empty());
    EXPECT_EQ(message(r),
              "abuse must be a list of tables ([[abuse]]), not a list holding an integer");
  }
}

TEST_F(TomlReaderTest, TheFirstErrorWinsAndLaterReadsLeaveTheirFields) {
  auto r = reader("a = \"x\"\nb = 2\n");
  int a = 0, b = 0;
  EXPECT_FALSE(r.read("a", a));
  EXPECT_FALSE(r.read("b", b));
  EXPECT_EQ(b, 0);
  r.fail("later");
  EXPECT_EQ(message(r), "a must be a whole number, not a string");
}

TEST_F(TomlReaderTest, KeysAreListedSorted) {
  auto r = reader("[ttl]\npricing = 1\nfaq = 2\n");
  auto ttl = r.table("ttl");
  ASSERT_TRUE(ttl);
  EXPECT_EQ(ttl->keys(), (std::vector<std::string>{"faq", "pricing"}));
}

TEST(JoinNamesTest, SaysTheListAsASentenceDoes) {
  const std::string_view three[] = {"a", "b", "c"};
  const std::string_view one[] = {"a"};
  EXPECT_EQ(join_names(three), "a, b or c");
  EXPECT_EQ(join_names(one), "a");
}

}  // namespace
}  // namespace ma::core
