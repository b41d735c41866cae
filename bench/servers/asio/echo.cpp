// asio echo: the standalone Asio (Debian's libasio-dev) peer of coio's echo
// benchmarks. A C++ program, not part of the Go module; bench/scripts/build-asio.sh
// builds it with g++ -O2 -std=c++17 -pthread.
//
// Configuration, the plain shape of Asio's own documentation and examples: one
// asio::io_context run by one thread (the main thread), an acceptor with
// SO_REUSEADDR and the maximum listen backlog, and per connection one session owning
// its socket (TCP_NODELAY set) and a 4 KiB buffer: async_read_some, then async_write
// of exactly what was read, then the next async_read_some. Epoll is Asio's default
// reactor on Linux; built with -DASIO_HAS_IO_URING -DASIO_DISABLE_EPOLL and -luring
// (build-asio.sh --uring) it uses io_uring instead. With -threads N the io_context is
// run by N threads (the thread-pool shape of Asio's "HTTP server 3" example), which
// the two-core runs use; a connection never has two operations pending, so it needs
// no strand.
//
//   GOMAXPROCS=1 taskset -c 0 asio -addr 127.0.0.1:7000
//   taskset -c 0 asio 127.0.0.1 7000
//   asio -addr 127.0.0.1:7000 -threads 2
//
// It prints one line once it listens and runs until SIGINT or SIGTERM.

#include <asio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

// connection echoes what its peer sends until the peer closes or an error occurs.
// Each pending operation's handler holds a shared_ptr to it, so it lives exactly as
// long as an operation is outstanding.
class connection : public std::enable_shared_from_this<connection> {
 public:
  explicit connection(asio::ip::tcp::socket s) : sock_(std::move(s)) {}

  void start() {
    std::error_code ec;
    sock_.set_option(asio::ip::tcp::no_delay(true), ec);
    read();
  }

 private:
  void read() {
    auto self = shared_from_this();
    sock_.async_read_some(asio::buffer(buf_),
                          [self](const std::error_code& ec, std::size_t n) {
                            if (!ec) self->write(n);
                          });
  }

  void write(std::size_t n) {
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(buf_.data(), n),
                      [self](const std::error_code& ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }

  asio::ip::tcp::socket sock_;
  std::array<char, 4096> buf_;
};

// accept_loop accepts connections one after another until the acceptor is closed.
void accept_loop(asio::ip::tcp::acceptor& acc) {
  acc.async_accept([&acc](const std::error_code& ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acc.is_open()) return;
    if (!ec) std::make_shared<connection>(std::move(s))->start();
    accept_loop(acc);  // also after a failed accept (e.g. out of descriptors)
  });
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: asio [-addr HOST:PORT | HOST PORT] [-threads N] (default 127.0.0.1:7000, 1 thread)\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::string port = "7000";
  int threads = 1;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if ((a == "-addr" || a == "--addr") && i + 1 < argc) {
      std::string v = argv[++i];
      auto colon = v.rfind(':');
      if (colon == std::string::npos) usage();
      host = v.substr(0, colon);
      port = v.substr(colon + 1);
    } else if ((a == "-threads" || a == "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
      if (threads < 1 || threads > 256) usage();
    } else if (!a.empty() && a[0] != '-') {
      positional.push_back(a);
    } else {
      usage();
    }
  }
  if (positional.size() == 2) {
    host = positional[0];
    port = positional[1];
  } else if (!positional.empty()) {
    usage();
  }

  try {
    asio::io_context io(threads);  // concurrency hint: how many threads run it
    asio::ip::tcp::endpoint ep(asio::ip::make_address(host),
                               static_cast<unsigned short>(std::stoul(port)));
    asio::ip::tcp::acceptor acc(io);
    acc.open(ep.protocol());
    acc.set_option(asio::socket_base::reuse_address(true));
    acc.bind(ep);
    acc.listen(asio::socket_base::max_listen_connections);

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const std::error_code&, int) {
      std::error_code ignored;
      acc.close(ignored);
      io.stop();
    });

    accept_loop(acc);
#if defined(ASIO_HAS_IO_URING_AS_DEFAULT)
    const char* backend = "io_uring";
#else
    const char* backend = "epoll";
#endif
    std::printf("asio: listening on %s:%s (one io_context, %d thread%s, %s, asio %d.%d.%d)\n",
                host.c_str(), port.c_str(), threads, threads == 1 ? "" : "s", backend,
                ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100);
    std::fflush(stdout);
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; i++) pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio: %s\n", e.what());
    return 1;
  }
  return 0;
}
