#include "ctl/credentials.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>

namespace status::ctl {

using common::ConfigError;

namespace {

constexpr std::size_t kMaxSecretFile = 64 * 1024;  // a token or password line is far shorter
constexpr std::size_t kMaxAnswer = 4096;

/// A file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting the error close() gives (a write that failed late).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

std::string errno_text() { return std::strerror(errno); }

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string lookup(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// Reads at most `limit` bytes of `fd` up to the first line end; the line without it.
std::string first_line(int fd, std::size_t limit, bool& read_failed) {
  std::string data;
  char buf[4096];
  read_failed = false;
  while (data.size() < limit && data.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      read_failed = true;
      return {};
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  data = data.substr(0, data.find('\n'));
  if (!data.empty() && data.back() == '\r') data.pop_back();
  return data;
}

std::string trimmed(std::string s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Creates `dir` and its missing parents with mode 0700 (the XDG rule for new base directories).
void make_dirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw ConfigError(dir + " is not a directory");
    return;
  }
  if (errno != ENOENT) throw ConfigError("cannot use " + dir + ": " + errno_text());
  if (auto parent = parent_of(dir); parent != dir) make_dirs(parent);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw ConfigError("cannot create " + dir + ": " + errno_text());
}

// The terminal state a secret prompt changed, for the signal handler to put back.
volatile std::sig_atomic_t g_restore_fd = -1;
struct termios g_saved_termios {};

extern "C" void restore_terminal_and_reraise(int sig) {
  if (g_restore_fd >= 0) ::tcsetattr(g_restore_fd, TCSANOW, &g_saved_termios);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

/// Echo off on `fd` for its lifetime; the saved state comes back on scope exit or on a signal.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (::tcgetattr(fd, &g_saved_termios) != 0) return;
    struct termios quiet = g_saved_termios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    g_restore_fd = fd;
    for (int i = 0; i < 3; ++i) {
      struct sigaction sa {};
      sa.sa_handler = restore_terminal_and_reraise;
      sigemptyset(&sa.sa_mask);
      ::sigaction(kSignals[i], &sa, &old_[i]);
    }
    active_ = ::tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (g_restore_fd < 0) return;
    ::tcsetattr(fd_, TCSANOW, &g_saved_termios);
    g_restore_fd = -1;
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  bool active() const { return active_; }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  int fd_;
  bool active_ = false;
  struct sigaction old_[3]{};
};

}  // namespace

std::string token_path(const std::map<std::string, std::string>& env) {
  if (auto xdg = lookup(env, "XDG_CONFIG_HOME"); !xdg.empty() && xdg.front() == '/')
    return xdg + "/statusctl/token";
  if (auto home = lookup(env, "HOME"); !home.empty()) return home + "/.config/statusctl/token";
  throw ConfigError("cannot tell where to keep the token: neither HOME nor XDG_CONFIG_HOME is set");
}

std::optional<std::string> read_token_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw ConfigError("cannot read the token file " + path + ": " + errno_text());
  }
  bool failed = false;
  std::string token = trimmed(first_line(fd.get(), kMaxSecretFile, failed));
  if (failed) throw ConfigError("cannot read the token file " + path + ": " + errno_text());
  if (token.empty()) return std::nullopt;
  return token;
}

void write_token_file(const std::string& path, const std::string& token) {
  const std::string dir = parent_of(path);
  make_dirs(dir);
  if (::chmod(dir.c_str(), 0700) != 0)
    throw ConfigError("cannot make " + dir + " private (mode 0700): " + errno_text());
  std::string tmp = path + ".XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));  // mode 0600, whatever the umask
  if (fd.get() < 0) throw ConfigError("cannot write in " + dir + ": " + errno_text());
  auto give_up = [&](const std::string& what) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw ConfigError("cannot " + what + " " + path + ": " + why);
  };
  if (::fchmod(fd.get(), 0600) != 0) give_up("protect");
  std::string data = token + "\n";
  std::string_view rest = data;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) give_up("write");
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd.get()) != 0) give_up("write");
  if (fd.close() != 0) give_up("write");
  if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("replace");
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());  // the rename itself is durable (best effort)
}

bool remove_token_file(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  throw ConfigError("cannot remove the token file " + path + ": " + errno_text());
}

KnownToken resolve_token(const std::string& option_value,
                         const std::map<std::string, std::string>& env, const std::string& path) {
  if (!option_value.empty()) {
    auto it = env.find("STATUS_TOKEN");
    bool from_env = it != env.end() && it->second == option_value;
    return {option_value, from_env ? TokenSource::kEnv : TokenSource::kFlag};
  }
  if (path.empty()) return {};
  if (auto t = read_token_file(path)) return {*t, TokenSource::kFile};
  return {};
}

std::string read_secret_file(const std::string& option, const std::string& path) {
  std::string name = path == "-" ? "standard input" : path;
  int raw = path == "-" ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  Fd fd(raw);
  if (fd.get() < 0)
    throw ConfigError("--" + option + ": cannot read " + name + ": " + errno_text());
  bool failed = false;
  std::string line = first_line(fd.get(), kMaxSecretFile, failed);
  if (failed) throw ConfigError("--" + option + ": cannot read " + name + ": " + errno_text());
  if (line.empty()) throw ConfigError("--" + option + ": the first line of " + name + " is empty");
  return line;
}

std::optional<std::string> ask_terminal(const std::string& prompt, bool secret) {
  Fd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (tty.get() < 0) return std::nullopt;
  std::optional<EchoOff> quiet;
  if (secret) {
    quiet.emplace(tty.get());
    if (!quiet->active()) return std::nullopt;  // never ask for a secret that would show
  }
  if (::write(tty.get(), prompt.data(), prompt.size()) < 0) return std::nullopt;
  std::string answer;
  char c;
  for (;;) {
    ssize_t n = ::read(tty.get(), &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;  // Ctrl-D: no answer
    if (c == '\n') break;
    if (answer.size() < kMaxAnswer) answer += c;
  }
  if (!answer.empty() && answer.back() == '\r') answer.pop_back();
  return answer;
}

}  // namespace status::ctl
