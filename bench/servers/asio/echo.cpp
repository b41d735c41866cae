// asio echo: the standalone Asio (Debian's libasio-dev) peer of coio's echo
// benchmarks. A C++ program, not part of the Go module; bench/scripts/build-asio.sh
// builds it with g++ -O2 -std=c++17 -pthread.
//
// Configuration, the plain single-threaded shape of Asio's own documentation and
// examples: one asio::io_context run by one thread (the main thread), an acceptor
// with SO_REUSEADDR and the maximum listen backlog, and per connection one session
// owning its socket (TCP_NODELAY set) and a 4 KiB buffer: async_read_some, then
// async_write of exactly what was read, then the next async_read_some. Epoll is
// Asio's default reactor on Linux; built with -DASIO_HAS_IO_URING
// -DASIO_DISABLE_EPOLL and -luring (build-asio.sh --uring) it uses io_uring instead.
//
//   GOMAXPROCS=1 taskset -c 0 asio -addr 127.0.0.1:7000
//   taskset -c 0 asio 127.0.0.1 7000
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
#include <utility>

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
  std::fprintf(stderr, "usage: asio [-addr HOST:PORT | HOST PORT] (default 127.0.0.1:7000)\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::string port = "7000";
  if (argc == 3 && (std::strcmp(argv[1], "-addr") == 0 || std::strcmp(argv[1], "--addr") == 0)) {
    std::string a = argv[2];
    auto colon = a.rfind(':');
    if (colon == std::string::npos) usage();
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
  } else if (argc == 3) {
    host = argv[1];
    port = argv[2];
  } else if (argc != 1) {
    usage();
  }

  try {
    asio::io_context io(1);  // concurrency hint 1: one thread runs it
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
    std::printf("asio: listening on %s:%s (one io_context, %s, asio %d.%d.%d)\n", host.c_str(),
                port.c_str(), backend, ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000,
                ASIO_VERSION % 100);
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio: %s\n", e.what());
    return 1;
  }
  return 0;
}
