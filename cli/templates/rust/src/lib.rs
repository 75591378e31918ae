//! A Jamsocket service: one instance runs each room. Clients connect to
//! `ws://localhost:8080/ws/<room>`; every client of a room shares its counter.
//!
//! - A client that connects is told its id: `User 1 connected.`
//! - `increment` / `decrement` change the room's counter; everyone gets `new value: N`.
//! - Any other text is passed on to the room: `User 1 sent 'hello'`.

use jamsocket_wasm::prelude::*;

struct Service {
    value: i32,
}

impl SimpleJamsocketService for Service {
    fn new(_room_id: &str, _ctx: &impl JamsocketContext) -> Self {
        Service { value: 0 }
    }

    fn connect(&mut self, client: ClientId, ctx: &impl JamsocketContext) {
        ctx.send_message(client, &format!("User {} connected.", client));
    }

    fn message(&mut self, client: ClientId, message: &str, ctx: &impl JamsocketContext) {
        match message {
            "increment" | "decrement" => {
                self.value += if message == "increment" { 1 } else { -1 };
                let text = format!("new value: {}", self.value);
                ctx.send_message(MessageRecipient::Broadcast, &text);
            }
            _ => {
                let text = format!("User {} sent '{}'", client, message);
                ctx.send_message(MessageRecipient::Broadcast, &text);
            }
        }
    }
}

jamsocket_wasm!(Service);
