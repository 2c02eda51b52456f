// WorkerContext: one slot per name for a kept connection, and the end of a
// request, which drops what is not fit for the next one.
#include "../../src/worker_context.h"

#include <doctest/doctest.h>

#include <memory>

using namespace healthcheck;

namespace {

// Counts its own destruction, and is as fit as it is told.
struct CountedConnection : KeptConnection {
  CountedConnection(bool fit_to_keep, int* destroyed) : fit(fit_to_keep), destroyed_(destroyed) {}
  ~CountedConnection() override { ++*destroyed_; }
  bool FitToKeep() override { return fit; }
  bool fit;

 private:
  int* destroyed_;
};

}  // namespace

TEST_CASE("a name's slot starts empty and is the same slot on every call") {
  WorkerContext worker;
  CHECK(worker.kept("cursor_backend") == nullptr);
  int destroyed = 0;
  worker.kept("cursor_backend") = std::make_unique<CountedConnection>(true, &destroyed);
  CHECK(worker.kept("cursor_backend") != nullptr);
  CHECK(worker.kept("other") == nullptr);  // Each name has its own.
  CHECK(destroyed == 0);
}

TEST_CASE("EndRequest drops the connections unfit to keep, and only those") {
  int destroyed = 0;
  WorkerContext worker;
  worker.kept("fit") = std::make_unique<CountedConnection>(true, &destroyed);
  worker.kept("unfit") = std::make_unique<CountedConnection>(false, &destroyed);
  worker.kept("empty");
  worker.EndRequest();
  CHECK(worker.kept("fit") != nullptr);
  CHECK(worker.kept("unfit") == nullptr);
  CHECK(worker.kept("empty") == nullptr);
  CHECK(destroyed == 1);

  static_cast<CountedConnection*>(worker.kept("fit").get())->fit = false;
  worker.EndRequest();
  CHECK(worker.kept("fit") == nullptr);
  CHECK(destroyed == 2);
}

TEST_CASE("a worker's kept connections are closed with it") {
  int destroyed = 0;
  {
    WorkerContext worker;
    worker.kept("a") = std::make_unique<CountedConnection>(true, &destroyed);
    worker.kept("b") = std::make_unique<CountedConnection>(true, &destroyed);
    worker.EndRequest();
    CHECK(destroyed == 0);
  }
  CHECK(destroyed == 2);
}
