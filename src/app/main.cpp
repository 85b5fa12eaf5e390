// The `mangaassist` command.
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

constexpr const char* kUsage =
    "usage: mangaassist <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config F] [--port N] [--redis URL]   run the chat gateway\n"
    "  sim SCENARIO [--variant incident|fixed|both] [--seed N] [--out DIR]\n"
    "                                                 replay an incident on virtual time\n"
    "  chat \"question\" [--url URL]                   ask the running gateway\n"
    "  logs ...                                       query JSON logs\n";

int not_built(std::string_view cmd) {
  std::fprintf(stderr, "mangaassist %.*s: not built yet (see the open issues)\n",
               static_cast<int>(cmd.size()), cmd.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "serve" || cmd == "sim" || cmd == "chat" || cmd == "logs") return not_built(cmd);
  std::fprintf(stderr, "mangaassist: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}
