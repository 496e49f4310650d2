//! The command mix of the load figures: organization role changes
//! (`PUT /people/{user}/role`) and group membership changes
//! (`PATCH /groups/{group}` adding, then removing, one member), half and
//! half, on the benchmark organization (users `user0`..`user9998`, groups
//! `group-0`..`group-199`, organization roles `Member` and the odd
//! `custom-N`). The same mix is written as a wrk script (closed loop) and
//! as requests for the open-loop generator.

/// Organization roles the role changes pick from.
const ROLES: [&str; 5] = ["Member", "custom-1", "custom-3", "custom-5", "custom-7"];
const USERS: u64 = 9_999;
const GROUPS: u64 = 200;

/// A well-mixed 64-bit hash (splitmix64), so request `i` is reproducible.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One command of the mix: method, path below the organization, JSON body.
pub struct CommandRequest {
    pub method: reqwest::Method,
    pub path: String,
    pub body: String,
}

/// Request `i`: of every four, two role changes, then an added member
/// (`i % 4 == 1`) and the same member removed again (`i % 4 == 3`), so
/// group changes keep changing something.
pub fn command(i: u64) -> CommandRequest {
    match i % 4 {
        0 | 2 => {
            let h = mix(i);
            CommandRequest {
                method: reqwest::Method::PUT,
                path: format!("/people/user{}/role", h % USERS),
                body: format!(
                    r#"{{"role": "{}"}}"#,
                    ROLES[(h >> 32) as usize % ROLES.len()]
                ),
            }
        }
        k => {
            let h = mix((i / 4) | (1 << 63));
            let (user, group) = (h % USERS, (h >> 32) % GROUPS);
            let field = if k == 1 {
                "add_members"
            } else {
                "remove_members"
            };
            CommandRequest {
                method: reqwest::Method::PATCH,
                path: format!("/groups/group-{group}"),
                body: format!(r#"{{"{field}": ["user{user}"]}}"#),
            }
        }
    }
}

/// The same mix as a wrk script: each wrk thread cycles through role,
/// add member, role, remove that member.
pub fn wrk_script(token: &str) -> String {
    let roles = ROLES
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
local roles = {{{roles}}}
local headers = {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}
local n = 0
local user, group
request = function()
  n = n + 1
  local k = n % 4
  if k == 1 or k == 3 then
    local u = "user" .. math.random(0, {users})
    local body = '{{"role": "' .. roles[math.random(#roles)] .. '"}}'
    return wrk.format("PUT", "/api/v1/orgs/bench/people/" .. u .. "/role", headers, body)
  elseif k == 2 then
    user = "user" .. math.random(0, {users})
    group = "group-" .. math.random(0, {groups})
    return wrk.format("PATCH", "/api/v1/orgs/bench/groups/" .. group, headers,
      '{{"add_members": ["' .. user .. '"]}}')
  else
    return wrk.format("PATCH", "/api/v1/orgs/bench/groups/" .. group, headers,
      '{{"remove_members": ["' .. user .. '"]}}')
  end
end
"#,
        users = USERS - 1,
        groups = GROUPS - 1,
    )
}
