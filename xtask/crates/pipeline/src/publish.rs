//! Stage 3, publish: images of the layout → a registry, then (a release's last step) the moving
//! tags.
//!
//! A push is planned before it runs: what each immutable tag holds now, which blobs the registry
//! already has, which ones an earlier image of the same run uploads (the shared base layer). The
//! push itself goes image by image in the plan's order and still asks the registry before every
//! upload, so a blob that landed in the meantime is not sent twice and an interrupted push is
//! resumed by running it again.

use crate::context::{Context, Event, Task};
use crate::display::{human_bytes, short_digest};
use crate::images::{BuiltImages, ImagePlan};
use anyhow::{Context as _, Result};
use lucid_catalog::ImageRef;
use lucid_image::push::{self, PushEvent, PushOutcome};
use lucid_image::{BuiltImage, Layout};
use lucid_registry::Registry;
use std::collections::BTreeSet;
use std::fmt;

/// What happens to one blob of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    Upload,
    /// The registry has it already.
    InRegistry,
    /// An image earlier in the plan uploads it.
    UploadedEarlier,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBlob {
    pub digest: String,
    pub size: u64,
    pub action: BlobAction,
}

/// The push of one image to its immutable tag.
#[derive(Debug, Clone)]
pub struct PushPlan {
    pub image: BuiltImage,
    pub target: ImageRef,
    /// The index digest the tag holds before the push.
    pub before: Option<String>,
    /// Empty when the tag already holds the image.
    pub blobs: Vec<PlannedBlob>,
    /// Platform manifests the registry lacks.
    pub missing_manifests: usize,
}

impl PushPlan {
    /// The tag already holds this exact image: nothing to send.
    pub fn unchanged(&self) -> bool {
        self.before.as_deref() == Some(self.image.digest.as_str())
    }

    fn count(&self, action: BlobAction) -> (usize, u64) {
        self.blobs
            .iter()
            .filter(|b| b.action == action)
            .fold((0, 0), |(n, bytes), b| (n + 1, bytes + b.size))
    }

    /// Blobs to upload, and their bytes.
    pub fn uploads(&self) -> (usize, u64) {
        self.count(BlobAction::Upload)
    }
}

impl fmt::Display for PushPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {}: ",
            self.target,
            short_digest(&self.image.digest)
        )?;
        if self.unchanged() {
            return f.write_str("skip: the tag already holds this image");
        }
        let (upload, bytes) = self.uploads();
        let (present, _) = self.count(BlobAction::InRegistry);
        let (shared, _) = self.count(BlobAction::UploadedEarlier);
        write!(
            f,
            "push {upload} blob(s) ({}), skip {present} in the registry and {shared} pushed with an image above; {} platform manifest(s) + index",
            human_bytes(bytes),
            self.missing_manifests
        )?;
        if let Some(old) = &self.before {
            write!(f, ", replaces {} (interrupted attempt)", short_digest(old))?;
        }
        Ok(())
    }
}

/// Asks the registry what it holds for every image and plans each push.
pub fn plan_pushes(
    registry: &Registry,
    layout: &Layout,
    images: &[(BuiltImage, ImageRef)],
) -> Result<Vec<PushPlan>> {
    let mut planned = BTreeSet::new();
    images
        .iter()
        .map(|(image, target)| plan_push(registry, layout, image, target, &mut planned))
        .collect()
}

fn plan_push(
    registry: &Registry,
    layout: &Layout,
    image: &BuiltImage,
    target: &ImageRef,
    planned: &mut BTreeSet<String>,
) -> Result<PushPlan> {
    let repo = &target.repository;
    let tag = target
        .tag
        .as_deref()
        .with_context(|| format!("{}: a push needs a tag", target.name()))?;
    let before = registry.manifest_digest(repo, tag)?;
    let mut plan = PushPlan {
        image: image.clone(),
        target: target.clone(),
        before,
        blobs: Vec::new(),
        missing_manifests: 0,
    };
    if plan.unchanged() {
        return Ok(plan);
    }
    for (digest, size) in push::blobs(layout, image)? {
        let action = if planned.contains(&digest) {
            BlobAction::UploadedEarlier
        } else if registry.has_blob(repo, &digest)? {
            BlobAction::InRegistry
        } else {
            planned.insert(digest.clone());
            BlobAction::Upload
        };
        plan.blobs.push(PlannedBlob {
            digest,
            size,
            action,
        });
    }
    for p in &image.platforms {
        if registry.manifest_digest(repo, &p.digest)?.is_none() {
            plan.missing_manifests += 1;
        }
    }
    Ok(plan)
}

/// Pushes every planned image, in order; the one push loop of the pipeline.
pub fn push_all(
    ctx: &Context,
    registry: &Registry,
    layout: &Layout,
    plans: &[PushPlan],
) -> Result<Vec<PushOutcome>> {
    ctx.report(Event::Begin {
        task: Task::Push,
        total: plans.len() as u64,
    });
    let mut out = Vec::new();
    for plan in plans {
        let outcome = push_one(ctx, registry, layout, plan).with_context(|| {
            format!(
                "pushing {}\n{} of {} images were pushed before the failure",
                plan.target,
                out.len(),
                plans.len()
            )
        });
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                ctx.report(Event::End { task: Task::Push });
                return Err(e);
            }
        };
        ctx.report(Event::Advance {
            task: Task::Push,
            by: 1,
            message: Some(plan.image.service.clone()),
        });
        out.push(outcome);
    }
    ctx.report(Event::End { task: Task::Push });
    let uploaded: usize = out.iter().map(|o| o.uploaded_blobs).sum();
    let skipped: usize = out.iter().map(|o| o.skipped_blobs).sum();
    ctx.note(format!(
        "  {} images: {} pushed, {} already there; {uploaded} blobs uploaded ({}), {skipped} already there",
        out.len(),
        out.iter().filter(|o| !o.unchanged).count(),
        out.iter().filter(|o| o.unchanged).count(),
        human_bytes(out.iter().map(|o| o.uploaded_bytes).sum()),
    ));
    Ok(out)
}

fn push_one(
    ctx: &Context,
    registry: &Registry,
    layout: &Layout,
    plan: &PushPlan,
) -> Result<PushOutcome> {
    if let Some(old) = plan.before.as_deref().filter(|_| !plan.unchanged()) {
        ctx.note(format!(
            "  {} held {} (an interrupted attempt of another revision): replaced by {}",
            plan.target,
            short_digest(old),
            short_digest(&plan.image.digest)
        ));
    }
    let task = Task::Upload(plan.image.service.clone());
    ctx.report(Event::Begin {
        task: task.clone(),
        total: plan.blobs.iter().map(|b| b.size).sum(),
    });
    let outcome = push::push_image(registry, layout, &plan.image, &plan.target, &mut |e| {
        if let PushEvent::BlobSkipped { size, .. } | PushEvent::BlobUploaded { size, .. } = e {
            ctx.report(Event::Advance {
                task: task.clone(),
                by: *size,
                message: None,
            });
        }
    });
    ctx.report(Event::End { task });
    outcome
}

/// Pointing a moving tag at the image of its immutable tag.
#[derive(Debug, Clone)]
pub struct TagMove {
    pub versioned: ImageRef,
    pub moving: ImageRef,
    /// What the moving tag holds now.
    pub from: Option<String>,
    /// The index digest it will hold.
    pub to: String,
}

impl TagMove {
    pub fn needed(&self) -> bool {
        self.from.as_deref() != Some(self.to.as_str())
    }
}

impl fmt::Display for TagMove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = self
            .from
            .as_deref()
            .map(short_digest)
            .unwrap_or_else(|| "(none)".into());
        let action = if self.needed() {
            "would move"
        } else {
            "already there"
        };
        write!(
            f,
            "{}: {now} → {} ({action})",
            self.moving,
            short_digest(&self.to)
        )
    }
}

/// Moves every moving tag that needs it, in order; a failure says how many had moved and that
/// running the same command again moves the rest. Returns how many moved.
pub fn move_tags(registry: &Registry, moves: &[TagMove]) -> Result<usize> {
    let mut moved = 0;
    for (i, m) in moves.iter().enumerate() {
        if !m.needed() {
            continue;
        }
        push::tag_moving(registry, &m.versioned, &m.moving).with_context(|| {
            format!(
                "moving {}\n{i} of {} moving tags had moved; run the same command again to move the rest",
                m.moving,
                moves.len()
            )
        })?;
        moved += 1;
    }
    Ok(moved)
}

/// `build-images --push`: every built image to its immutable tag, then, with `--move-tags`,
/// every moving tag.
pub fn publish(ctx: &Context, plan: &ImagePlan, built: &BuiltImages) -> Result<Vec<PushOutcome>> {
    let registry = ctx.registry(&plan.registry)?;
    let layout = Layout::open(&ctx.oci_layout())?;
    let targets: Vec<_> = built
        .images
        .iter()
        .zip(&plan.images)
        .map(|(image, p)| (image.clone(), p.versioned.clone()))
        .collect();
    let pushes = plan_pushes(&registry, &layout, &targets)?;
    let outcomes = push_all(ctx, &registry, &layout, &pushes)?;
    if plan.request.move_tags {
        let moves: Vec<TagMove> = built
            .images
            .iter()
            .zip(&plan.images)
            .map(|(image, p)| TagMove {
                versioned: p.versioned.clone(),
                moving: p.moving.clone(),
                from: None,
                to: image.digest.clone(),
            })
            .collect();
        move_tags(&registry, &moves)?;
    }
    Ok(outcomes)
}
