//! The ZAB transport over real TCP on 127.0.0.1: votes between every pair, links in order both
//! ways, closes, dead peers, shutdown, a large snapshot, and connections that must be refused.
//!
//! Listeners are bound to port 0 first and handed to `Transport::start_with_listeners`, so the
//! ports are known before any transport starts and no two tests race for a port. Timeouts here
//! only turn a hang into a failure; nothing asserts on how fast something happens.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use zk_engine::Zxid;
use zk_server::zab::codec::{self, Hello};
use zk_server::zab::message::{LinkId, Message, PeerState, ServerId, Vote};
use zk_server::zab::transport::{Incoming, PeerAddress, Transport};

/// Long enough that only a hang reaches it.
const HANG: Duration = Duration::from_secs(30);

struct Node {
    transport: Transport,
    incoming: UnboundedReceiver<Incoming>,
}

impl Node {
    async fn next(&mut self) -> Incoming {
        tokio::time::timeout(HANG, self.incoming.recv())
            .await
            .expect("an event before the hang timeout")
            .expect("the incoming channel is open")
    }

    /// Asserts that nothing arrives for a while (what a refused or closed connection must not
    /// deliver).
    async fn assert_quiet(&mut self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(event) = self.incoming.try_recv() {
            panic!("unexpected {event:?}");
        }
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// An address nothing listens on: bound, then closed.
async fn dead_address() -> SocketAddr {
    let listener = bind().await;
    listener.local_addr().expect("local address")
}

/// Servers `1..=count` on 127.0.0.1, plus `extra` peers that exist only in the peer list.
async fn ensemble(
    count: u64,
    extra: &[(ServerId, PeerAddress)],
) -> (Vec<Node>, BTreeMap<ServerId, PeerAddress>) {
    let mut listeners = Vec::new();
    let mut peers = BTreeMap::new();
    for id in 1..=count {
        let quorum = bind().await;
        let election = bind().await;
        peers.insert(
            id,
            PeerAddress {
                quorum: quorum.local_addr().expect("quorum address"),
                election: election.local_addr().expect("election address"),
            },
        );
        listeners.push((id, quorum, election));
    }
    peers.extend(extra.iter().copied());
    let mut nodes = Vec::new();
    for (id, quorum, election) in listeners {
        let (sender, incoming) = mpsc::unbounded_channel();
        let transport =
            Transport::start_with_listeners(id, peers.clone(), quorum, election, sender);
        nodes.push(Node {
            transport,
            incoming,
        });
    }
    (nodes, peers)
}

fn notification(leader: ServerId, round: u64) -> Message {
    Message::Notification {
        vote: Vote {
            leader,
            zxid: Zxid::new(1, 7),
            epoch: 1,
        },
        round,
        state: PeerState::Looking,
    }
}

fn link(follower: ServerId, leader: ServerId, nonce: u64) -> LinkId {
    LinkId {
        follower,
        leader,
        nonce,
    }
}

fn proposal(counter: u32) -> Message {
    Message::Proposal {
        zxid: Zxid::new(2, counter),
        data: Arc::from(counter.to_le_bytes().as_slice()),
    }
}

/// Waits for the next event on `node`, which must be a message on `link`.
async fn next_on_link(node: &mut Node, expected_link: LinkId) -> Message {
    match node.next().await {
        Incoming::Link { link, message } if link == expected_link => message,
        other => panic!("expected a message on {expected_link:?}, got {other:?}"),
    }
}

/// Opens `link` from `nodes[follower]` and waits until the leader has seen its first message.
async fn open(nodes: &mut [Node], link: LinkId) {
    let follower = (link.follower - 1) as usize;
    let leader = (link.leader - 1) as usize;
    nodes[follower].transport.open_link(link);
    nodes[follower].transport.send(link, Message::Ping);
    assert_eq!(next_on_link(&mut nodes[leader], link).await, Message::Ping);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_reach_every_pair() {
    let (mut nodes, _) = ensemble(3, &[]).await;
    for from in 1..=3u64 {
        for to in 1..=3u64 {
            if from != to {
                nodes[(from - 1) as usize]
                    .transport
                    .send_vote(to, notification(from, from * 10 + to));
            }
        }
    }
    for to in 1..=3u64 {
        let mut senders = Vec::new();
        for _ in 0..2 {
            match nodes[(to - 1) as usize].next().await {
                Incoming::Vote { from, message } => {
                    assert_eq!(message, notification(from, from * 10 + to));
                    senders.push(from);
                }
                other => panic!("expected a vote, got {other:?}"),
            }
        }
        senders.sort_unstable();
        let expected: Vec<u64> = (1..=3).filter(|id| *id != to).collect();
        assert_eq!(senders, expected, "votes received by server {to}");
    }
    // Later votes use the same connection, in order.
    for round in 100..200 {
        nodes[0].transport.send_vote(2, notification(1, round));
    }
    for round in 100..200 {
        assert_eq!(
            nodes[1].next().await,
            Incoming::Vote {
                from: 1,
                message: notification(1, round)
            }
        );
    }
    // Votes to itself or to an unknown server go nowhere.
    nodes[0].transport.send_vote(1, notification(1, 1));
    nodes[0].transport.send_vote(42, notification(1, 1));
    nodes[0].assert_quiet().await;
    for node in &nodes {
        node.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_resume_after_the_peer_restarts() {
    let (mut nodes, peers) = ensemble(2, &[]).await;
    nodes[0].transport.send_vote(2, notification(1, 1));
    assert!(matches!(
        nodes[1].next().await,
        Incoming::Vote { from: 1, .. }
    ));
    nodes[1].transport.shutdown();
    // Rebind server 2's ports (free once its listeners are dropped) and start it again.
    let address = peers[&2];
    let (quorum, election) = loop {
        match (
            TcpListener::bind(address.quorum).await,
            TcpListener::bind(address.election).await,
        ) {
            (Ok(quorum), Ok(election)) => break (quorum, election),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let (sender, incoming) = mpsc::unbounded_channel();
    let mut restarted = Node {
        transport: Transport::start_with_listeners(2, peers, quorum, election, sender),
        incoming,
    };
    // The core re-sends its vote on a timer; do the same until one gets through.
    let resend = {
        let transport = nodes[0].transport.clone();
        tokio::spawn(async move {
            for round in 2.. {
                transport.send_vote(2, notification(1, round));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    assert!(matches!(
        restarted.next().await,
        Incoming::Vote { from: 1, .. }
    ));
    resend.abort();
    nodes[0].transport.shutdown();
    restarted.transport.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_carries_thousands_of_messages_in_order_both_ways() {
    let (mut nodes, _) = ensemble(3, &[]).await;
    let link = link(2, 1, 0xfeed);
    nodes[1].transport.open_link(link);
    // Sent before the connection is up: queued and sent first, in order.
    for counter in 1..=5000 {
        nodes[1].transport.send(link, proposal(counter));
    }
    for counter in 1..=5000 {
        assert_eq!(next_on_link(&mut nodes[0], link).await, proposal(counter));
    }
    for counter in 1..=5000 {
        nodes[0].transport.send(
            link,
            Message::Commit {
                zxid: Zxid::new(2, counter),
            },
        );
    }
    for counter in 1..=5000 {
        assert_eq!(
            next_on_link(&mut nodes[1], link).await,
            Message::Commit {
                zxid: Zxid::new(2, counter)
            }
        );
    }
    // A second link to the same leader, from another follower, is independent.
    let other = self::link(3, 1, 7);
    open(&mut nodes, other).await;
    nodes[0].transport.send(other, Message::UpToDate);
    nodes[0].transport.send(link, Message::Ping);
    assert_eq!(next_on_link(&mut nodes[2], other).await, Message::UpToDate);
    assert_eq!(next_on_link(&mut nodes[1], link).await, Message::Ping);
    for node in &nodes {
        node.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_link_is_seen_by_the_other_side_only_after_what_was_sent() {
    let (mut nodes, _) = ensemble(2, &[]).await;

    // The follower closes.
    let first = link(2, 1, 1);
    open(&mut nodes, first).await;
    nodes[1].transport.send(
        first,
        Message::Ack {
            zxid: Zxid::new(1, 1),
        },
    );
    nodes[1].transport.close_link(first);
    assert_eq!(
        next_on_link(&mut nodes[0], first).await,
        Message::Ack {
            zxid: Zxid::new(1, 1)
        }
    );
    assert_eq!(nodes[0].next().await, Incoming::LinkClosed { link: first });
    // Sends on a closed link are dropped.
    nodes[0].transport.send(first, Message::Ping);
    nodes[1].transport.send(first, Message::Ping);

    // The leader closes.
    let second = link(2, 1, 2);
    open(&mut nodes, second).await;
    nodes[0].transport.send(second, Message::UpToDate);
    nodes[0].transport.close_link(second);
    assert_eq!(next_on_link(&mut nodes[1], second).await, Message::UpToDate);
    assert_eq!(nodes[1].next().await, Incoming::LinkClosed { link: second });

    // The side that closed hears nothing more of either link.
    nodes[0].assert_quiet().await;
    nodes[1].assert_quiet().await;
    for node in &nodes {
        node.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_dead_port_reports_link_closed() {
    let dead = dead_address().await;
    let (mut nodes, _) = ensemble(
        2,
        &[(
            4,
            PeerAddress {
                quorum: dead,
                election: dead,
            },
        )],
    )
    .await;
    let to_dead = link(2, 4, 9);
    nodes[1].transport.open_link(to_dead);
    nodes[1].transport.send(to_dead, Message::Ping);
    assert_eq!(
        nodes[1].next().await,
        Incoming::LinkClosed { link: to_dead }
    );
    // A link this server cannot open (it is not the follower) is reported the same way.
    let not_mine = link(1, 2, 9);
    nodes[1].transport.open_link(not_mine);
    assert_eq!(
        nodes[1].next().await,
        Incoming::LinkClosed { link: not_mine }
    );
    // Votes to the dead server are dropped without any event.
    nodes[1].transport.send_vote(4, notification(2, 1));
    nodes[1].assert_quiet().await;
    for node in &nodes {
        node.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_link_of_the_server() {
    let (mut nodes, _) = ensemble(3, &[]).await;
    let from_two = link(2, 1, 1);
    let from_three = link(3, 1, 1);
    let one_follows_two = link(1, 2, 1);
    open(&mut nodes, from_two).await;
    open(&mut nodes, from_three).await;
    open(&mut nodes, one_follows_two).await;
    nodes[0].transport.shutdown();
    let mut closed_at_two = vec![nodes[1].next().await, nodes[1].next().await];
    closed_at_two.sort_by_key(|event| format!("{event:?}"));
    let mut expected = vec![
        Incoming::LinkClosed { link: from_two },
        Incoming::LinkClosed {
            link: one_follows_two,
        },
    ];
    expected.sort_by_key(|event| format!("{event:?}"));
    assert_eq!(closed_at_two, expected);
    assert_eq!(
        nodes[2].next().await,
        Incoming::LinkClosed { link: from_three }
    );
    // The stopped server delivers nothing more and its calls do nothing.
    nodes[0].transport.send(from_two, Message::Ping);
    nodes[0].transport.open_link(link(1, 3, 5));
    nodes[0].transport.send_vote(2, notification(1, 1));
    nodes[0].assert_quiet().await;
    // Its ports are closed: a new link to it fails.
    let late = link(2, 1, 2);
    nodes[1].transport.open_link(late);
    assert_eq!(nodes[1].next().await, Incoming::LinkClosed { link: late });
    for node in &nodes {
        node.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_clone_shuts_the_transport_down() {
    let (mut nodes, _) = ensemble(2, &[]).await;
    let link = link(2, 1, 3);
    open(&mut nodes, link).await;
    let leader = nodes.remove(0);
    let clone = leader.transport.clone();
    drop(leader);
    // A clone keeps it alive.
    clone.send(link, Message::Ping);
    assert_eq!(next_on_link(&mut nodes[0], link).await, Message::Ping);
    drop(clone);
    assert_eq!(nodes[0].next().await, Incoming::LinkClosed { link });
    nodes[0].transport.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_megabyte_snapshot_crosses() {
    let (mut nodes, _) = ensemble(2, &[]).await;
    let link = link(2, 1, 11);
    open(&mut nodes, link).await;
    let state: Arc<[u8]> = (0..50 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let snap = Message::Snap {
        base: Zxid::new(3, 99),
        state: state.clone(),
    };
    nodes[0].transport.send(link, Message::Diff);
    nodes[0].transport.send(link, snap.clone());
    nodes[0].transport.send(link, proposal(100));
    assert_eq!(next_on_link(&mut nodes[1], link).await, Message::Diff);
    assert_eq!(next_on_link(&mut nodes[1], link).await, snap);
    assert_eq!(next_on_link(&mut nodes[1], link).await, proposal(100));
    for node in &nodes {
        node.transport.shutdown();
    }
}

/// Connects to `address`, sends `bytes`, and waits until the server closes the connection.
async fn assert_refused(address: SocketAddr, bytes: &[u8]) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // The server may close before reading everything: a failed write is a refusal too.
    let _ = stream.write_all(bytes).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(HANG, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes a refused connection");
    if let Ok(n) = read {
        assert_eq!(n, 0, "a refused connection gets no bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_wrong_hellos_are_refused() {
    let (mut nodes, peers) = ensemble(2, &[]).await;
    let vote = {
        let mut frame = Vec::new();
        codec::encode(&notification(9, 1), &mut frame);
        frame
    };
    let with_hello = |hello: Hello, frame: &[u8]| {
        let mut bytes = Vec::new();
        codec::encode_hello(&hello, &mut bytes);
        bytes.extend_from_slice(frame);
        bytes
    };
    let election = peers[&1].election;
    let quorum = peers[&1].quorum;
    // An unknown server id, and the server itself, on the election port.
    assert_refused(election, &with_hello(Hello::Election { from: 99 }, &vote)).await;
    assert_refused(election, &with_hello(Hello::Election { from: 1 }, &vote)).await;
    // A link hello on the election port.
    let stray = link(2, 1, 1);
    assert_refused(election, &with_hello(Hello::Link { link: stray }, &vote)).await;
    // Not our protocol at all (an HTTP request, an Apache ZooKeeper election header).
    assert_refused(election, b"GET / HTTP/1.1\r\n\r\n").await;
    assert_refused(
        quorum,
        &[0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    )
    .await;
    // Links that are not from a known peer to this server.
    for bad in [link(99, 1, 1), link(2, 3, 1), link(1, 1, 1)] {
        assert_refused(quorum, &with_hello(Hello::Link { link: bad }, &vote)).await;
    }
    // A damaged frame after a good hello ends that connection.
    let mut damaged = with_hello(Hello::Election { from: 2 }, &vote);
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert_refused(election, &damaged).await;
    nodes[0].assert_quiet().await;

    // A known peer still gets through.
    nodes[1].transport.send_vote(1, notification(2, 5));
    assert_eq!(
        nodes[0].next().await,
        Incoming::Vote {
            from: 2,
            message: notification(2, 5)
        }
    );
    for node in &nodes {
        node.transport.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_binds_the_addresses_of_the_peer_list() {
    // Free ports: bound to port 0 and released just before the transports bind them.
    let mut peers = BTreeMap::new();
    for id in 1..=2u64 {
        peers.insert(
            id,
            PeerAddress {
                quorum: dead_address().await,
                election: dead_address().await,
            },
        );
    }
    let (one_sender, mut one) = mpsc::unbounded_channel();
    let (two_sender, _two) = mpsc::unbounded_channel();
    let first = Transport::start(1, peers.clone(), one_sender)
        .await
        .expect("start server 1");
    let second = Transport::start(2, peers.clone(), two_sender)
        .await
        .expect("start server 2");
    second.send_vote(1, notification(2, 1));
    let event = tokio::time::timeout(HANG, one.recv())
        .await
        .expect("a vote");
    assert_eq!(
        event,
        Some(Incoming::Vote {
            from: 2,
            message: notification(2, 1)
        })
    );
    // A server missing from the list, and a port already taken, are errors.
    let (sender, _receiver) = mpsc::unbounded_channel();
    assert!(Transport::start(3, peers.clone(), sender.clone())
        .await
        .is_err());
    let error = Transport::start(1, peers, sender)
        .await
        .err()
        .expect("the quorum port is taken");
    assert!(error.to_string().contains("quorum port"), "{error}");
    first.shutdown();
    second.shutdown();
}
