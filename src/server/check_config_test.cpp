#include "server/check_config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "server/config.hpp"

namespace ma::server {
namespace {

namespace fs = std::filesystem;

class CheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ma_check_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A config in the temporary folder, its writable paths there too.
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }
  std::string paths() const {
    const std::string d = dir_.string();
    return "[catalog]\ndb_path = \"" + d + "/ma.db\"\n[observe]\nlog_file = \"" + d +
           "/requests.log\"\ntrace_file = \"" + d + "/traces.jsonl\"\n";
  }
  static std::string errors_of(const ConfigCheck& c) {
    std::string out;
    for (const auto& f : c.findings) {
      if (f.severity == ConfigFinding::Severity::kError) out += f.message + "\n";
    }
    return out;
  }
  static CheckConfigOptions options() {
    CheckConfigOptions o;
    o.defaults_file = std::string(MA_SOURCE_DIR) + "/config/default.toml";
    return o;
  }

  fs::path dir_;
};

TEST_F(CheckConfigTest, TheShippedDefaultsAreClean) {
  const auto c = check_config(std::string(MA_SOURCE_DIR) + "/config/default.toml",
                              core::fixed_env({}), options());
  // var/ is relative to the working directory; the test runs where it may write.
  EXPECT_TRUE(c.ok()) << errors_of(c);
  EXPECT_NE(c.effective.find("[server]"), std::string::npos) << c.effective;
  EXPECT_NE(c.effective.find("[admission.premium]"), std::string::npos) << c.effective;
}

TEST_F(CheckConfigTest, EveryUnknownKeyAndBadValueIsListedNotOnlyTheFirst) {
  const auto c = check_config(
      write("bad.toml", paths() + "[server]\nprot = 80\nport = \"eighty\"\n[retry]\njiter = "
                                  "\"full\"\n[pipeline]\nlimiter_floor_share = 3.0\n"),
      core::fixed_env({}), options());
  EXPECT_FALSE(c.ok());
  const std::string e = errors_of(c);
  EXPECT_NE(e.find("unknown key server.prot"), std::string::npos) << e;
  EXPECT_NE(e.find("server.port must be"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key retry.jiter"), std::string::npos) << e;
  // A check across keys still runs after the mistakes before it.
  EXPECT_NE(e.find("limiter_floor_share"), std::string::npos) << e;
  // serve reads the same file and stops at the first mistake.
  AppConfig cfg = default_config();
  EXPECT_FALSE(load_toml(dir_ / "bad.toml", cfg).ok());
}

TEST_F(CheckConfigTest, AFileThatDoesNotParseSaysWhereAndNothingMore) {
  const auto c =
      check_config(write("broken.toml", "[server\nport = 1\n"), core::fixed_env({}), options());
  ASSERT_EQ(c.findings.size(), 1u);
  EXPECT_NE(c.findings[0].message.find("broken.toml:1"), std::string::npos)
      << c.findings[0].message;
  EXPECT_TRUE(c.effective.empty());
  const auto missing = check_config((dir_ / "nope.toml").string(), core::fixed_env({}), options());
  ASSERT_EQ(missing.findings.size(), 1u);
  EXPECT_NE(missing.findings[0].message.find("cannot read"), std::string::npos);
}

TEST_F(CheckConfigTest, FilesItNamesMustBeReadableOrCreatable) {
  const std::string d = dir_.string();
  write("rules.json", R"({"version": 2, "rules": [], "default": {"fixed_target": 1}})");
  const auto c = check_config(
      write("files.toml", "[catalog]\ndb_path = \"/etc/hostname/ma.db\"\ndata_dir = \"" + d +
                              "/no-data\"\n[observe]\nlog_file = \"" + d +
                              "/logs/deep/requests.log\"\ntrace_file = \"" + d +
                              "/t.jsonl\"\nsampling_rules = \"" + d + "/rules.json\"\n"),
      core::fixed_env({}), options());
  const std::string e = errors_of(c);
  EXPECT_NE(e.find("catalog.data_dir: cannot read " + d + "/no-data/manga_series.jsonl"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("catalog.db_path: cannot create /etc/hostname/ma.db: /etc/hostname is not "
                   "a directory"),
            std::string::npos)
      << e;
  // A default rule without its rate is refused by the sampler.
  EXPECT_NE(e.find("observe.sampling_rules: " + d + "/rules.json"), std::string::npos) << e;
  // A folder that does not exist yet is created by the server: fine.
  EXPECT_EQ(e.find("observe.log_file"), std::string::npos) << e;
}

TEST_F(CheckConfigTest, ARedisThatDoesNotAnswerIsAnError) {
  // Port 1: nobody listens there.
  const auto c =
      check_config(write("fleet.toml", paths() + "[fleet]\nredis = "
                                                 "\"redis://:hunter2hunter2@127.0.0.1:1/0\"\n"),
                   core::fixed_env({}), options());
  const std::string e = errors_of(c);
  EXPECT_NE(e.find("fleet.redis: redis://:********@127.0.0.1:1/0 does not answer"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  EXPECT_EQ(c.effective.find("hunter2"), std::string::npos) << c.effective;
}

TEST_F(CheckConfigTest, TheEffectiveConfigurationMasksSecretsAndLoadsBack) {
  const auto c = check_config(
      write("secrets.toml", paths() + "[server]\nport = 9123\nadmin_token = \"adm1n-t0ken\"\n"
                                      "auth_secret = \"0123456789abcdef-signing\"\n"),
      core::fixed_env({{"RETRY_MAX_ATTEMPTS", "0"}}), options());
  EXPECT_TRUE(c.ok()) << errors_of(c);
  EXPECT_EQ(c.effective.find("adm1n-t0ken"), std::string::npos) << c.effective;
  EXPECT_EQ(c.effective.find("0123456789abcdef-signing"), std::string::npos) << c.effective;
  EXPECT_NE(c.effective.find("admin_token = '********'"), std::string::npos) << c.effective;
  EXPECT_NE(c.effective.find("RETRY_MAX_ATTEMPTS=0 (a runtime flag"), std::string::npos)
      << c.effective;
  // What it prints is a configuration serve takes, with the file's values and the defaults.
  const std::string back = write("back.toml", c.effective);
  AppConfig printed = default_config();
  ASSERT_TRUE(load_toml(back, printed).ok());
  EXPECT_EQ(printed.server.port, 9123);
  EXPECT_EQ(printed.server.admin_token, "********");
  EXPECT_EQ(printed.db_path, (dir_ / "ma.db").string());
  EXPECT_EQ(printed.pipeline.deadline, default_config().pipeline.deadline);
}

TEST_F(CheckConfigTest, TheEnvironmentShowsWhereItOverrides) {
  const auto c =
      check_config(write("env.toml", paths()),
                   core::fixed_env({{"MANGAASSIST_ADMIN_TOKEN", "from-the-env-123"}}), options());
  EXPECT_EQ(c.effective.find("from-the-env-123"), std::string::npos) << c.effective;
  EXPECT_NE(c.effective.find("MANGAASSIST_ADMIN_TOKEN: server.admin_token"), std::string::npos)
      << c.effective;
  EXPECT_NE(c.effective.find("admin_token = '********'"), std::string::npos) << c.effective;
}

TEST(MaskTest, PasswordsInUrlsAndSecretsAreMasked) {
  EXPECT_EQ(mask_url_password("redis://:pw@h:6379/1"), "redis://:********@h:6379/1");
  EXPECT_EQ(mask_url_password("https://user:pw@host/p"), "https://user:********@host/p");
  EXPECT_EQ(mask_url_password("https://user@host/p"), "https://user@host/p");
  EXPECT_EQ(mask_url_password("http://host:4318/a@b"), "http://host:4318/a@b");
  EXPECT_EQ(mask_url_password("var/requests.log"), "var/requests.log");
  // As state::RedisUrl::parse reads them: the password runs to the last '@'.
  EXPECT_EQ(mask_url_password("redis://:ab/cd@h:6379"), "redis://:********@h:6379");
  EXPECT_EQ(mask_url_password("redis://:p@ss@h"), "redis://:********@h");
  EXPECT_EQ(mask_url_password("redis://s3cret@h"), "redis://********@h");
  EXPECT_EQ(mask_url_password("https://u:p@ss@host/x@y"), "https://u:********@host/x@y");
  EXPECT_EQ(mask_secret(""), "");
  EXPECT_EQ(mask_secret("x"), "********");
}

}  // namespace
}  // namespace ma::server
