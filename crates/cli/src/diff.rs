//! Unified line diffs (`@@ -a,b +c,d @@` hunks with three lines of context), for showing what a
//! put or rollback would change before it is made.
//!
//! Lines keep their newline, so a value that only gains or loses its final newline still shows
//! a change (marked `\ No newline at end of file`, as diff(1) does); when both sides agree on
//! it (values typed on the command line have none) the marker is left out. The common head and tail
//! are stripped first; the rest is a longest-common-subsequence table, which config values keep
//! small. A middle part too big for the table is shown as removed and added whole.

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Largest LCS table (cells) built; beyond it the changed middle is replaced whole.
const MAX_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Edit {
    Same,
    Del,
    Add,
}

/// The hunks turning `old` into `new`, or an empty string when they are equal.
pub fn unified(old: &str, new: &str) -> String {
    let ends = |t: &str| t.is_empty() || t.ends_with('\n');
    let (old, new) = if ends(old) != ends(new) && !old.is_empty() && !new.is_empty() {
        (old.to_string(), new.to_string())
    } else {
        (with_newline(old), with_newline(new))
    };
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let script = edit_script(&a, &b);
    render(&script)
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') { text.to_string() } else { format!("{text}\n") }
}

/// The edit script: every line of `a` and `b` once, in order, marked same, deleted or added.
fn edit_script<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Edit, &'a str)> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut script: Vec<(Edit, &str)> = a[..head].iter().map(|l| (Edit::Same, *l)).collect();
    if mid_a.len().saturating_mul(mid_b.len()) <= MAX_CELLS {
        script.extend(lcs_script(mid_a, mid_b));
    } else {
        script.extend(mid_a.iter().map(|l| (Edit::Del, *l)));
        script.extend(mid_b.iter().map(|l| (Edit::Add, *l)));
    }
    script.extend(a[a.len() - tail..].iter().map(|l| (Edit::Same, *l)));
    script
}

/// Classic LCS table walk; deletions come before additions within a changed run.
fn lcs_script<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Edit, &'a str)> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j] = length of the LCS of a[i..] and b[j..]
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] { lcs[at(i + 1, j + 1)] + 1 } else { lcs[at(i + 1, j)].max(lcs[at(i, j + 1)]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut script = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            script.push((Edit::Same, a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            script.push((Edit::Del, a[i]));
            i += 1;
        } else {
            script.push((Edit::Add, b[j]));
            j += 1;
        }
    }
    script
}

/// Groups changes with their context into hunks and prints them.
fn render(script: &[(Edit, &str)]) -> String {
    let changes: Vec<usize> = script.iter().enumerate().filter(|(_, (e, _))| *e != Edit::Same).map(|(k, _)| k).collect();
    let Some(&first) = changes.first() else { return String::new() };
    // Line numbers (0-based) in old and new before each script position.
    let mut old_at = Vec::with_capacity(script.len() + 1);
    let mut new_at = Vec::with_capacity(script.len() + 1);
    let (mut o, mut n) = (0, 0);
    for (edit, _) in script {
        old_at.push(o);
        new_at.push(n);
        o += usize::from(*edit != Edit::Add);
        n += usize::from(*edit != Edit::Del);
    }
    old_at.push(o);
    new_at.push(n);

    let mut out = String::new();
    let mut start = first.saturating_sub(CONTEXT);
    let mut last = first;
    for &k in changes.iter().skip(1) {
        if k - last > 2 * CONTEXT {
            hunk(&mut out, script, start, (last + CONTEXT + 1).min(script.len()), &old_at, &new_at);
            start = k - CONTEXT;
        }
        last = k;
    }
    hunk(&mut out, script, start, (last + CONTEXT + 1).min(script.len()), &old_at, &new_at);
    out
}

fn hunk(out: &mut String, script: &[(Edit, &str)], start: usize, end: usize, old_at: &[usize], new_at: &[usize]) {
    let range = |at: &[usize]| {
        let count = at[end] - at[start];
        let first = if count == 0 { at[start] } else { at[start] + 1 };
        format!("{first},{count}")
    };
    out.push_str(&format!("@@ -{} +{} @@\n", range(old_at), range(new_at)));
    for (edit, line) in &script[start..end] {
        out.push(match edit {
            Edit::Same => ' ',
            Edit::Del => '-',
            Edit::Add => '+',
        });
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn equal_texts_have_no_hunks() {
        assert_eq!(unified("a\nb\n", "a\nb\n"), "");
        assert_eq!(unified("", ""), "");
    }

    #[test]
    fn a_changed_line_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        assert_eq!(unified(old, new), "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let line = |i: u32| match i {
            2 => "two\n".to_string(),
            19 => "nineteen\n".to_string(),
            _ => format!("{i}\n"),
        };
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20).map(line).collect();
        let diff = unified(&old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.starts_with("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n"), "{diff}");
        assert!(diff.contains("@@ -16,5 +16,5 @@\n 16\n 17\n 18\n-19\n+nineteen\n 20\n"), "{diff}");
    }

    #[test]
    fn creation_deletion_and_missing_final_newline() {
        assert_eq!(unified("", "a\nb\n"), "@@ -0,0 +1,2 @@\n+a\n+b\n");
        assert_eq!(unified("a\n", ""), "@@ -1,1 +0,0 @@\n-a\n");
        assert_eq!(unified("a\n", "a"), "@@ -1,1 +1,1 @@\n-a\n+a\n\\ No newline at end of file\n");
        assert_eq!(unified("two", "three"), "@@ -1,1 +1,1 @@\n-two\n+three\n", "no marker when both lack it");
        assert_eq!(unified("", "a"), "@@ -0,0 +1,1 @@\n+a\n");
    }

    #[test]
    fn insertions_keep_the_common_lines() {
        assert_eq!(unified("a\nc\n", "a\nb\nc\n"), "@@ -1,2 +1,3 @@\n a\n+b\n c\n");
        assert_eq!(unified("x\ny\n", "y\nx\n"), "@@ -1,2 +1,2 @@\n-x\n y\n+x\n");
    }
}
