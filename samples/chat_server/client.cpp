// A chat client's task. The connection is split into a read half and a write half, driven by
// two branches of weft::select: both directions wait at the same time, and when either one
// ends (the client left, or the server said goodbye) the other is cancelled.
#include "client.hpp"

#include <weft/task.hpp>

#include <boost/asio/buffer.hpp>

#include <string>
#include <string_view>

namespace chat {

namespace {

std::string_view trim_line(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.remove_suffix(1);
    return s;
}

void write_line(auto& out, std::string_view text) { out.write_all(boost::asio::buffer(text)); }

}  // namespace

void serve_client(weft::net::tcp_stream stream, client_id id,
                  weft::broadcast::sender<message> room) {
    write_line(stream, "welcome! what is your name?\n");
    std::string line;
    if (stream.read_line(line) == 0) return;  // gone before saying anything
    std::string name(trim_line(line));
    if (name.empty()) name = "guest-" + std::to_string(id);

    // Subscribe before announcing, so no line sent after "joined" can be missed.
    weft::broadcast::receiver<message> inbox = room.subscribe();
    auto [reader, writer] = std::move(stream).split();
    write_line(writer, "* hello " + name + "\n");
    room.send({id, "* " + name + " joined\n"});

    // [client_branches]
    weft::select(
        [&] {  // this client's lines, to everyone else
            std::string text;
            while (reader.read_line(text) > 0) {
                std::string_view t = trim_line(text);
                if (!t.empty()) room.send({id, name + ": " + std::string(t) + "\n"});
                text.clear();
            }
        },
        [&] {  // everyone else's lines, to this client
            for (;;) {
                message m;
                try {
                    m = inbox.recv();
                } catch (const weft::broadcast::lagged& e) {
                    // Too slow a reader: the channel kept its latest lines and dropped older
                    // ones for us. Say so and carry on from the oldest line still kept.
                    write_line(writer, "* you missed " + std::to_string(e.skipped()) + " lines\n");
                    continue;
                }
                if (m.from == id) continue;  // our own line
                write_line(writer, m.text);
                if (m.last) return;
            }
        });
    // [client_branches]
    room.send({id, "* " + name + " left\n"});
    // The halves close the connection as they go out of scope (the write half first shuts
    // the sending side down, so the client reads end of stream).
}

}  // namespace chat
