// Helpers for the unit tests: a temporary folder that cleans itself up,
// file helpers, the environment for one test, and SQLite fixtures made by
// python3's sqlite3 module.
#pragma once

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace healthcheck::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/healthcheck-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    // A test may have left a folder unwritable (or a file unreadable) to
    // its own user; give them back first, or rm cannot empty them.
    std::string command = "chmod -R u+rwX '" + path_ + "' 2>/dev/null; rm -rf '" + path_ + "'";
    if (system(command.c_str()) != 0) {
      // Nothing to do in a destructor; the folder is under /tmp.
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `text` to `path`, mode 0644 whatever the umask: LoadConfig refuses
// a file that group or others may write, and a umask of 002 would make one.
inline void WriteFile(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  if (chmod(path.c_str(), 0644) != 0) throw std::runtime_error("cannot chmod " + path);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline bool Exists(const std::string& path) {
  struct stat info;
  return lstat(path.c_str(), &info) == 0;
}

// The inode `path` names now (0 when it names nothing).
inline ino_t FileInode(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

// Root reads and writes any file whatever its mode: tests about permissions
// need an unprivileged user, and tests that change owners need root.
inline bool RunningAsRoot() { return geteuid() == 0; }

// Sets (or unsets, for nullopt) an environment variable for one test and
// restores it afterwards, whatever happens.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = getenv(name)) saved_ = std::string(old);
    Set(value);
  }
  ~ScopedEnvironment() { Set(saved_); }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  void Set(const std::optional<std::string>& value) {
    if (value) {
      setenv(name_, value->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  const char* name_;
  std::optional<std::string> saved_;
};

// How many of this process's file descriptors are open on `path`: shows
// whether a connection is still open after its owner is gone.
inline int OpenDescriptorsOn(const std::string& path) {
  int count = 0;
  DIR* folder = opendir("/proc/self/fd");
  if (folder == nullptr) throw std::runtime_error("cannot list /proc/self/fd");
  while (dirent* entry = readdir(folder)) {
    std::string link = std::string("/proc/self/fd/") + entry->d_name;
    char target[PATH_MAX];
    ssize_t length = readlink(link.c_str(), target, sizeof target - 1);
    if (length > 0 && std::string(target, static_cast<size_t>(length)) == path) ++count;
  }
  closedir(folder);
  return count;
}

// Whether a python3 fixture's traceback is printed: not for a probe whose
// failure is an answer.
enum class PythonErrors { kShown, kHidden };

// Runs a python3 program with `path` as sys.argv[1]; throws when it fails.
inline void RunPython(const std::string& program, const std::string& path,
                      PythonErrors errors = PythonErrors::kShown) {
  std::string script_path = path + ".fixture.py";
  WriteFile(script_path, program);
  std::string command = "python3 '" + script_path + "' '" + path + "'";
  if (errors == PythonErrors::kHidden) command += " 2>/dev/null";
  int status = system(command.c_str());
  unlink(script_path.c_str());
  if (status != 0) throw std::runtime_error("fixture failed: " + command);
}

// A database with a table failed_jobs holding `failed_jobs` rows.
inline void MakeDatabase(const std::string& path, int failed_jobs = 0) {
  RunPython(
      "import sqlite3, sys\n"
      "c = sqlite3.connect(sys.argv[1])\n"
      "c.execute('CREATE TABLE failed_jobs (id INTEGER PRIMARY KEY)')\n"
      "c.executemany('INSERT INTO failed_jobs DEFAULT VALUES', [()] * " +
          std::to_string(failed_jobs) +
          ")\n"
          "c.commit()\n"
          "c.close()\n",
      path);
}

// A log line with its measured duration (" after 12.3 ms: ") replaced by
// "N", so the rest can be compared whole. (No std::regex: GCC 12 warns
// inside it under the sanitizer build.)
inline std::string WithoutDuration(const std::string& line) {
  const std::string before = " after ";
  const std::string after = " ms: ";
  size_t start = line.find(before);
  if (start == std::string::npos) return line;
  size_t digits = start + before.size();
  size_t end = line.find(after, digits);
  if (end == std::string::npos) return line;
  std::string number = line.substr(digits, end - digits);
  if (number.find_first_not_of("0123456789.") != std::string::npos || number.empty()) return line;
  return line.substr(0, digits) + "N" + line.substr(end);
}

}  // namespace healthcheck::testing
