// WorkerContext: what one worker keeps from one request to the next, owned
// where it can be seen. The FastCGI server makes one per worker thread and
// destroys it with the thread; CGI and --check make one for their single
// request. The handler hands it to the request's Container, whose
// dependency builders find their kept connections in it by name, and calls
// EndRequest() once the request's dependencies are gone.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace healthcheck {

// A connection a dependency keeps for the worker's next request.
class KeptConnection {
 public:
  virtual ~KeptConnection() = default;
  // Whether it may serve the next request: its last use succeeded, and it
  // holds no lock, no transaction and no unfinished statement.
  virtual bool FitToKeep() = 0;
};

class WorkerContext {
 public:
  WorkerContext() = default;
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  // Where the dependency `name` keeps its connection; empty until it puts
  // one there.
  std::unique_ptr<KeptConnection>& kept(const std::string& name);

  // Closes every kept connection that is not fit for the next request.
  void EndRequest();

 private:
  // One per dependency that keeps a connection: a handful at most.
  std::vector<std::pair<std::string, std::unique_ptr<KeptConnection>>> kept_;
};

}  // namespace healthcheck
