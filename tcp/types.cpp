#include "tcp/types.hpp"

namespace tcpsim::tcp {

const char* to_string(State s) {
    switch (s) {
        case State::Closed: return "CLOSED";
        case State::Listen: return "LISTEN";
        case State::SynSent: return "SYN_SENT";
        case State::SynRecv: return "SYN_RECV";
        case State::Established: return "ESTABLISHED";
        case State::FinWait1: return "FIN_WAIT1";
        case State::FinWait2: return "FIN_WAIT2";
        case State::Closing: return "CLOSING";
        case State::TimeWait: return "TIME_WAIT";
        case State::CloseWait: return "CLOSE_WAIT";
        case State::LastAck: return "LAST_ACK";
    }
    return "?";
}

int linux_state_number(State s) {
    // include/net/tcp_states.h
    switch (s) {
        case State::Established: return 1;
        case State::SynSent: return 2;
        case State::SynRecv: return 3;
        case State::FinWait1: return 4;
        case State::FinWait2: return 5;
        case State::TimeWait: return 6;
        case State::Closed: return 7;
        case State::CloseWait: return 8;
        case State::LastAck: return 9;
        case State::Listen: return 10;
        case State::Closing: return 11;
    }
    return 0;
}

std::string Endpoint::to_string() const { return addr.to_string() + ":" + std::to_string(port); }

}  // namespace tcpsim::tcp
