#include "sqlite_header.h"

#include <sqlite3.h>
#include <string.h>

namespace healthcheck {
namespace {

// SQLite's file header: the magic string, then at offsets 18 and 19 the
// read and write versions.
constexpr int kHeaderBytes = 100;
constexpr char kHeaderMagic[] = "SQLite format 3";
constexpr int kReadVersionOffset = 18;
constexpr int kWriteVersionOffset = 19;
constexpr unsigned char kRollbackVersion = 1;
constexpr unsigned char kWalVersion = 2;

// SQLite's handle on `db`'s main file, or null.
sqlite3_file* MainFile(sqlite3* db) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr) {
    return nullptr;
  }
  return file;
}

}  // namespace

long long MainFileBytes(sqlite3* db) {
  sqlite3_file* file = MainFile(db);
  sqlite3_int64 bytes = 0;
  if (file == nullptr || file->pMethods->xFileSize(file, &bytes) != SQLITE_OK) return -1;
  return bytes;
}

JournalMode ReadJournalMode(sqlite3* db) {
  sqlite3_file* file = MainFile(db);
  if (file == nullptr) return JournalMode::kUnknown;
  unsigned char header[kHeaderBytes];
  if (file->pMethods->xRead(file, header, sizeof header, 0) != SQLITE_OK ||
      memcmp(header, kHeaderMagic, sizeof kHeaderMagic) != 0) {
    return JournalMode::kUnknown;
  }
  unsigned char read_version = header[kReadVersionOffset];
  if (read_version != header[kWriteVersionOffset]) return JournalMode::kUnknown;
  if (read_version == kRollbackVersion) return JournalMode::kRollback;
  if (read_version == kWalVersion) return JournalMode::kWal;
  return JournalMode::kUnknown;
}

}  // namespace healthcheck
