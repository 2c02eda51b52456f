// WorkerContext: what one worker keeps from one request to the next, owned
// where it can be seen. The FastCGI server makes one per worker thread and
// destroys it with the thread; CGI and --check make one for their single
// request. The handler hands it to the request's Container, whose
// dependency builders find their kept connections in it by name, and calls
// EndRequest() once the request's dependencies are gone.
#pragma once

#include <map>
#include <memory>
#include <string>

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

  // Where the connection named `name` is kept; empty until a dependency
  // puts one there. The place stays valid as long as the context.
  std::unique_ptr<KeptConnection>& kept(const std::string& name);

  // Closes every kept connection that is not fit for the next request.
  void EndRequest();

  // Closes every kept connection: they were made for a configuration that
  // a reload replaced (another server, user or password).
  void CloseAll() { kept_.clear(); }

 private:
  // A map: its elements stay where they are as others are added.
  std::map<std::string, std::unique_ptr<KeptConnection>> kept_;
};

}  // namespace healthcheck
