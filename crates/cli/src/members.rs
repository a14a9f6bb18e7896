//! `ferrocache members ...` and `ferrocache status`: the Raft group's membership and health.

use clap::Subcommand;
use ferrocache_control::{Member, Status};

use crate::conn::{CliError, Ctx};
use crate::output::{Table, opt};

#[derive(Subcommand)]
pub enum MembersCmd {
    /// The cluster's members.
    List,
    /// Add a node by its admin URL: it catches up as a learner, then becomes a voter.
    Add {
        url: String,
        #[arg(long, value_name = "N")]
        node_id: u64,
        /// Keep it a learner (replicated, no vote).
        #[arg(long)]
        learner: bool,
    },
    /// Remove a node from the cluster.
    Remove { id: u64 },
}

pub async fn run(ctx: &Ctx, cmd: MembersCmd) -> Result<(), CliError> {
    let members = match cmd {
        MembersCmd::List => ctx.client.members().await?,
        MembersCmd::Add { url, node_id, learner } => ctx.client.member_add(node_id, &url, !learner).await?,
        MembersCmd::Remove { id } => ctx.client.member_remove(id).await?,
    };
    ctx.show(&members, |m| member_table(m, None).print());
    Ok(())
}

fn member_table(members: &[Member], leader: Option<u64>) -> Table {
    let mut table = Table::new(&["ID", "URL", "ROLE", "MATCHED"]);
    for m in members {
        let role = match (m.voter, leader == Some(m.id)) {
            (true, true) => "voter (leader)",
            (true, false) => "voter",
            (false, _) => "learner",
        };
        table.row(vec![m.id.to_string(), m.url.clone(), role.into(), opt(m.matched_index)]);
    }
    table
}

pub async fn status(ctx: &Ctx) -> Result<(), CliError> {
    let status = ctx.client.status().await?;
    ctx.show(&status, print_status);
    Ok(())
}

fn print_status(s: &Status) {
    let mut table = Table::new(&[]);
    let rows = [
        ("node", format!("{} ({}), {}", s.node_id, s.url, s.state.to_lowercase())),
        ("leader", opt(s.leader)),
        ("term", s.term.to_string()),
        ("log", format!("last {}, committed {}, applied {}", opt(s.last_log_index), opt(s.commit_index), opt(s.applied_index))),
        ("snapshot", format!("index {}, purged up to {}", opt(s.snapshot_index), opt(s.purged_index))),
        ("revision", format!("{} (history from {})", s.revision, s.first_revision)),
    ];
    for (name, value) in rows {
        table.row(vec![name.to_string(), value]);
    }
    table.print();
    println!();
    member_table(&s.members, s.leader).print();
}
