//! The pipeline registry: which captures and encoders must run, decided from who subscribed to what.
//!
//! Pure: no threads, channels, locks or clocks. Each call takes a subscriber's arrival or departure (or the news
//! that a thread ended on its own) and returns the [`Step`]s the engine must carry out, in order, as data; the
//! engine's state (`state.rs`) does the starting and stopping. The rules:
//! - a screen's capture runs while it has a consumer: a pipe, or a frame subscriber;
//! - subscribers of a screen whose requests have the same [`PipeKey`] share one pipe: one H.264 encoder per
//!   [`VideoProfile`], one JPEG encoder per (quality, max_width), the latter running at the highest fps among its
//!   subscribers;
//! - a pipe runs while it has a subscriber; the last one leaving stops it, and the capture after it when nothing
//!   else consumes the screen;
//! - a thread that ended on its own (a vanished screen, an encoder that kept failing) is never joined again: the
//!   next subscriber restarts it from scratch, and the first of its old subscribers to leave stops it (each of them
//!   saw its stream end). Old subscribers of a replaced pipe or capture leave without effect.
//!
//! Ids are handed out by the registry, never reused, so a stale [`Ticket`] cannot touch a newer pipe.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::profile::{JpegProfile, VideoProfile};

/// One subscriber, unique over the registry's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SubscriberId(u64);

/// One pipe (encoder thread), unique over the registry's life: a pipe restarted for the same key gets a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PipeId(u64);

impl PipeId {
    /// The number, for logs and `Debug` output.
    pub(crate) fn get(self) -> u64 {
        self.0
    }
}

/// What a subscriber asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// The raw captured frames.
    Frames,
    /// An H.264 stream.
    Video(VideoProfile),
    /// A JPEG stream.
    Jpeg(JpegProfile),
}

/// Which pipe of a screen serves a request: subscribers with equal keys share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PipeKey {
    /// The H.264 encoder of one profile.
    Video(VideoProfile),
    /// The JPEG encoder of one (quality, max_width), whatever fps each subscriber asked for.
    Jpeg { quality: u8, max_width: Option<u32> },
}

/// What the engine must do, in the order returned. `screen` is a screen id; a pipe is named by its [`PipeId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Start capturing `screen`.
    StartCapture { screen: String },
    /// Start an H.264 pipe on the screen's capture.
    StartVideo {
        screen: String,
        pipe: PipeId,
        profile: VideoProfile,
    },
    /// Start a JPEG pipe on the screen's capture, at `profile.fps`.
    StartJpeg {
        screen: String,
        pipe: PipeId,
        profile: JpegProfile,
    },
    /// Change a running JPEG pipe's rate (its subscribers' highest changed).
    SetJpegFps { pipe: PipeId, fps: u32 },
    /// Stop a pipe and detach it from the screen's capture.
    StopPipe { screen: String, pipe: PipeId },
    /// Stop capturing `screen` (its pipes were stopped by earlier steps).
    StopCapture { screen: String },
}

/// Where a subscriber is registered; given back to [`Registry::unsubscribe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The subscriber.
    pub(crate) id: SubscriberId,
    /// Its screen.
    pub(crate) screen: String,
    /// Its pipe; `None` for a frame subscriber.
    pub(crate) pipe: Option<(PipeKey, PipeId)>,
}

/// Outcome of [`Registry::subscribe`].
#[derive(Debug)]
pub(crate) struct Subscribed {
    /// Where the subscriber is; keep it to unsubscribe.
    pub(crate) ticket: Ticket,
    /// What to start (or restart) for it.
    pub(crate) steps: Vec<Step>,
}

/// Every screen with a consumer, its pipes and their subscribers.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    screens: HashMap<String, Screen>,
    next_id: u64,
}

#[derive(Debug, Default)]
struct Screen {
    pipes: HashMap<PipeKey, Pipe>,
    frame_subscribers: BTreeSet<SubscriberId>,
    /// The capture thread ended on its own.
    ended: bool,
}

impl Screen {
    fn is_idle(&self) -> bool {
        self.pipes.is_empty() && self.frame_subscribers.is_empty()
    }
}

#[derive(Debug)]
struct Pipe {
    id: PipeId,
    /// Each subscriber and the rate it asked for (JPEG; 0 for video).
    subscribers: BTreeMap<SubscriberId, u32>,
    /// The rate the pipe runs at (JPEG): the highest its subscribers asked for.
    fps: u32,
    /// The pipe's thread ended on its own.
    ended: bool,
}

impl Registry {
    /// Registers a subscriber of `screen`. Returns its ticket and what to start: the capture if the screen had no
    /// consumer, the pipe if no running pipe has its key, or only a rate change.
    pub(crate) fn subscribe(&mut self, screen: &str, want: Want) -> Subscribed {
        let id = SubscriberId(self.next());
        let mut steps = Vec::new();
        if self.screens.get(screen).is_some_and(|s| s.ended) {
            let old = self.screens.remove(screen).expect("checked above");
            stop_screen(screen, old, &mut steps);
        }
        if !self.screens.contains_key(screen) {
            steps.push(Step::StartCapture {
                screen: screen.to_owned(),
            });
        }
        let pipe = match want {
            Want::Frames => {
                self.screen(screen).frame_subscribers.insert(id);
                None
            }
            Want::Video(profile) => Some(self.join(
                screen,
                id,
                (PipeKey::Video(profile), 0),
                |screen, pipe| Step::StartVideo {
                    screen,
                    pipe,
                    profile,
                },
                &mut steps,
            )),
            Want::Jpeg(profile) => Some(self.join(
                screen,
                id,
                (
                    PipeKey::Jpeg {
                        quality: profile.quality,
                        max_width: profile.max_width,
                    },
                    profile.fps,
                ),
                |screen, pipe| Step::StartJpeg {
                    screen,
                    pipe,
                    profile,
                },
                &mut steps,
            )),
        };
        Subscribed {
            ticket: Ticket {
                id,
                screen: screen.to_owned(),
                pipe,
            },
            steps,
        }
    }

    /// Removes a subscriber. Returns what to stop: its pipe if it was the last subscriber (or the pipe had ended),
    /// then the capture if nothing else consumes the screen; or a rate change. A ticket of a pipe or capture that
    /// was since replaced or stopped changes nothing.
    pub(crate) fn unsubscribe(&mut self, ticket: &Ticket) -> Vec<Step> {
        let mut steps = Vec::new();
        let Some(entry) = self.screens.get_mut(&ticket.screen) else {
            return steps;
        };
        match ticket.pipe {
            None => {
                if !entry.frame_subscribers.remove(&ticket.id) {
                    return steps;
                }
            }
            Some((key, pipe_id)) => {
                let Some(pipe) = entry.pipes.get_mut(&key).filter(|p| p.id == pipe_id) else {
                    return steps;
                };
                if pipe.subscribers.remove(&ticket.id).is_none() {
                    return steps;
                }
                if pipe.subscribers.is_empty() || pipe.ended {
                    entry.pipes.remove(&key);
                    steps.push(Step::StopPipe {
                        screen: ticket.screen.clone(),
                        pipe: pipe_id,
                    });
                } else {
                    steps.extend(pipe.retune(key));
                }
            }
        }
        if entry.is_idle() {
            self.screens.remove(&ticket.screen);
            steps.push(Step::StopCapture {
                screen: ticket.screen.clone(),
            });
        }
        steps
    }

    /// Notes that the capture of `screen` ended on its own; the next subscriber restarts it. Nothing to do now:
    /// its pipes end with it and its subscribers see their streams end.
    pub(crate) fn capture_ended(&mut self, screen: &str) {
        if let Some(entry) = self.screens.get_mut(screen) {
            entry.ended = true;
        }
    }

    /// Notes that a pipe's thread ended on its own; see the module rules.
    pub(crate) fn pipe_ended(&mut self, pipe: PipeId) {
        if let Some(p) = self
            .screens
            .values_mut()
            .flat_map(|s| s.pipes.values_mut())
            .find(|p| p.id == pipe)
        {
            p.ended = true;
        }
    }

    /// Forgets everything (the engine shuts down): stops every pipe, then every capture.
    pub(crate) fn clear(&mut self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut screens: Vec<_> = self.screens.drain().collect();
        screens.sort_by(|a, b| a.0.cmp(&b.0));
        for (screen, entry) in screens {
            stop_screen(&screen, entry, &mut steps);
        }
        steps
    }

    /// What consumes `screen`'s capture: its pipes and frame subscribers.
    pub(crate) fn consumers(&self, screen: &str) -> usize {
        self.screens
            .get(screen)
            .map_or(0, |s| s.pipes.len() + s.frame_subscribers.len())
    }

    /// The pipes of `screen` and how many subscribers each has.
    pub(crate) fn pipes(&self, screen: &str) -> impl Iterator<Item = (PipeId, usize)> + '_ {
        self.screens
            .get(screen)
            .into_iter()
            .flat_map(|s| s.pipes.values())
            .map(|p| (p.id, p.subscribers.len()))
    }

    /// Adds subscriber `id` (asking for `fps`) to the pipe of `key`, replacing an ended pipe and starting a new one
    /// with `start` when none runs.
    fn join(
        &mut self,
        screen: &str,
        id: SubscriberId,
        (key, fps): (PipeKey, u32),
        start: impl FnOnce(String, PipeId) -> Step,
        steps: &mut Vec<Step>,
    ) -> (PipeKey, PipeId) {
        let Self { screens, next_id } = self;
        let entry = screens.entry(screen.to_owned()).or_default();
        if entry.pipes.get(&key).is_some_and(|p| p.ended) {
            let old = entry.pipes.remove(&key).expect("checked above");
            steps.push(Step::StopPipe {
                screen: screen.to_owned(),
                pipe: old.id,
            });
        }
        let pipe = entry.pipes.entry(key).or_insert_with(|| {
            *next_id += 1;
            let pipe = PipeId(*next_id);
            steps.push(start(screen.to_owned(), pipe));
            Pipe {
                id: pipe,
                subscribers: BTreeMap::new(),
                fps,
                ended: false,
            }
        });
        pipe.subscribers.insert(id, fps);
        steps.extend(pipe.retune(key));
        (key, pipe.id)
    }

    fn screen(&mut self, screen: &str) -> &mut Screen {
        self.screens.entry(screen.to_owned()).or_default()
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Pipe {
    /// A JPEG pipe runs at its subscribers' highest rate: the step to change it, if it changed.
    fn retune(&mut self, key: PipeKey) -> Option<Step> {
        if !matches!(key, PipeKey::Jpeg { .. }) {
            return None;
        }
        let fps = self.subscribers.values().copied().max()?;
        (fps != self.fps).then(|| {
            self.fps = fps;
            Step::SetJpegFps { pipe: self.id, fps }
        })
    }
}

/// Steps stopping every pipe of a screen (in id order), then its capture.
fn stop_screen(screen: &str, entry: Screen, steps: &mut Vec<Step>) {
    let mut pipes: Vec<PipeId> = entry.pipes.values().map(|p| p.id).collect();
    pipes.sort_unstable();
    for pipe in pipes {
        steps.push(Step::StopPipe {
            screen: screen.to_owned(),
            pipe,
        });
    }
    steps.push(Step::StopCapture {
        screen: screen.to_owned(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::Usage;

    fn video(bitrate_kbps: u32) -> Want {
        Want::Video(VideoProfile {
            bitrate_kbps,
            max_width: None,
            usage: Usage::Camera,
        })
    }

    fn jpeg(quality: u8, fps: u32) -> Want {
        Want::Jpeg(JpegProfile {
            quality,
            max_width: Some(960),
            fps,
        })
    }

    fn start_capture(screen: &str) -> Step {
        Step::StartCapture {
            screen: screen.into(),
        }
    }

    fn stop_capture(screen: &str) -> Step {
        Step::StopCapture {
            screen: screen.into(),
        }
    }

    fn stop_pipe(screen: &str, pipe: PipeId) -> Step {
        Step::StopPipe {
            screen: screen.into(),
            pipe,
        }
    }

    fn pipe_of(s: &Subscribed) -> PipeId {
        s.ticket.pipe.expect("a pipe subscriber").1
    }

    fn start_video(screen: &str, pipe: PipeId, want: Want) -> Step {
        let Want::Video(profile) = want else {
            panic!("not video")
        };
        Step::StartVideo {
            screen: screen.into(),
            pipe,
            profile,
        }
    }

    #[test]
    fn the_first_subscriber_starts_the_capture_then_the_pipe() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let pipe = pipe_of(&a);
        assert_eq!(
            a.steps,
            vec![start_capture("0"), start_video("0", pipe, video(4000))]
        );
        assert_eq!(r.consumers("0"), 1);
        assert_eq!(r.pipes("0").collect::<Vec<_>>(), vec![(pipe, 1)]);
    }

    #[test]
    fn a_second_subscriber_of_the_same_profile_starts_nothing() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let b = r.subscribe("0", video(4000));
        assert!(b.steps.is_empty(), "{:?}", b.steps);
        assert_eq!(pipe_of(&a), pipe_of(&b));
        assert_ne!(a.ticket.id, b.ticket.id);
        assert_eq!(r.pipes("0").collect::<Vec<_>>(), vec![(pipe_of(&a), 2)]);
        // The first to leave stops nothing; the last stops the pipe, then the capture.
        assert!(r.unsubscribe(&a.ticket).is_empty());
        assert_eq!(
            r.unsubscribe(&b.ticket),
            vec![stop_pipe("0", pipe_of(&b)), stop_capture("0")]
        );
        assert_eq!(r.consumers("0"), 0);
    }

    #[test]
    fn a_different_profile_starts_only_a_pipe() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let b = r.subscribe("0", video(2000));
        assert_ne!(pipe_of(&a), pipe_of(&b));
        assert_eq!(b.steps, vec![start_video("0", pipe_of(&b), video(2000))]);
        assert_eq!(r.consumers("0"), 2);
        // Leaving one profile stops its pipe only: the capture still feeds the other.
        assert_eq!(r.unsubscribe(&a.ticket), vec![stop_pipe("0", pipe_of(&a))]);
        assert_eq!(
            r.unsubscribe(&b.ticket),
            vec![stop_pipe("0", pipe_of(&b)), stop_capture("0")]
        );
    }

    #[test]
    fn screens_are_independent() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let b = r.subscribe("1", video(4000));
        assert_ne!(pipe_of(&a), pipe_of(&b));
        assert_eq!(b.steps[0], start_capture("1"));
        assert_eq!(
            r.unsubscribe(&a.ticket),
            vec![stop_pipe("0", pipe_of(&a)), stop_capture("0")]
        );
        assert_eq!(r.consumers("1"), 1);
    }

    #[test]
    fn frame_subscribers_keep_the_capture_alive() {
        let mut r = Registry::default();
        let f = r.subscribe("0", Want::Frames);
        assert_eq!(f.steps, vec![start_capture("0")]);
        assert_eq!(f.ticket.pipe, None);
        let v = r.subscribe("0", video(4000));
        assert_eq!(v.steps, vec![start_video("0", pipe_of(&v), video(4000))]);
        // The video leaves: its pipe stops, the capture stays for the frame subscriber.
        assert_eq!(r.unsubscribe(&v.ticket), vec![stop_pipe("0", pipe_of(&v))]);
        assert_eq!(r.consumers("0"), 1);
        let g = r.subscribe("0", Want::Frames);
        assert!(g.steps.is_empty());
        assert!(r.unsubscribe(&f.ticket).is_empty());
        assert_eq!(r.unsubscribe(&g.ticket), vec![stop_capture("0")]);
    }

    #[test]
    fn jpeg_is_shared_per_quality_and_width_at_the_highest_fps() {
        let mut r = Registry::default();
        let a = r.subscribe("0", jpeg(60, 10));
        let Want::Jpeg(profile) = jpeg(60, 10) else {
            unreachable!()
        };
        assert_eq!(
            a.steps,
            vec![
                start_capture("0"),
                Step::StartJpeg {
                    screen: "0".into(),
                    pipe: pipe_of(&a),
                    profile
                }
            ]
        );
        let pipe = pipe_of(&a);
        // A faster subscriber of the same (quality, width) speeds the shared pipe up; a slower one changes nothing.
        let b = r.subscribe("0", jpeg(60, 20));
        assert_eq!(pipe_of(&b), pipe);
        assert_eq!(b.steps, vec![Step::SetJpegFps { pipe, fps: 20 }]);
        let c = r.subscribe("0", jpeg(60, 5));
        assert!(c.steps.is_empty());
        // Another quality is another pipe.
        let d = r.subscribe("0", jpeg(90, 10));
        assert_ne!(pipe_of(&d), pipe);
        assert!(matches!(d.steps[..], [Step::StartJpeg { .. }]));
        // The fastest leaves: the pipe slows to the fastest remaining; then the slowest leaves: nothing changes.
        assert_eq!(
            r.unsubscribe(&b.ticket),
            vec![Step::SetJpegFps { pipe, fps: 10 }]
        );
        assert!(r.unsubscribe(&c.ticket).is_empty());
        assert_eq!(r.unsubscribe(&a.ticket), vec![stop_pipe("0", pipe)]);
        assert_eq!(
            r.unsubscribe(&d.ticket),
            vec![stop_pipe("0", pipe_of(&d)), stop_capture("0")]
        );
    }

    #[test]
    fn unknown_and_repeated_tickets_change_nothing() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let b = r.subscribe("0", video(4000));
        assert!(r.unsubscribe(&a.ticket).is_empty());
        assert!(r.unsubscribe(&a.ticket).is_empty(), "a second unsubscribe");
        let stranger = Ticket {
            id: SubscriberId(999),
            screen: "7".into(),
            pipe: None,
        };
        assert!(r.unsubscribe(&stranger).is_empty());
        assert_eq!(r.pipes("0").collect::<Vec<_>>(), vec![(pipe_of(&b), 1)]);
    }

    #[test]
    fn a_pipe_that_ended_is_replaced_for_the_next_subscriber() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let b = r.subscribe("0", video(4000));
        let old = pipe_of(&a);
        r.pipe_ended(old);
        // A newcomer gets a fresh pipe on the running capture.
        let c = r.subscribe("0", video(4000));
        let new = pipe_of(&c);
        assert_ne!(new, old);
        assert_eq!(
            c.steps,
            vec![stop_pipe("0", old), start_video("0", new, video(4000))]
        );
        // The old subscribers leave without touching it.
        assert!(r.unsubscribe(&a.ticket).is_empty());
        assert!(r.unsubscribe(&b.ticket).is_empty());
        assert_eq!(
            r.unsubscribe(&c.ticket),
            vec![stop_pipe("0", new), stop_capture("0")]
        );
    }

    #[test]
    fn the_first_subscriber_leaving_an_ended_pipe_stops_it() {
        let mut r = Registry::default();
        let a = r.subscribe("0", jpeg(70, 10));
        let b = r.subscribe("0", jpeg(70, 10));
        let f = r.subscribe("0", Want::Frames);
        r.pipe_ended(pipe_of(&a));
        assert_eq!(r.unsubscribe(&a.ticket), vec![stop_pipe("0", pipe_of(&a))]);
        assert!(r.unsubscribe(&b.ticket).is_empty());
        assert_eq!(r.unsubscribe(&f.ticket), vec![stop_capture("0")]);
    }

    #[test]
    fn a_capture_that_ended_is_restarted_from_scratch() {
        let mut r = Registry::default();
        let v = r.subscribe("0", video(4000));
        let j = r.subscribe("0", jpeg(70, 10));
        let f = r.subscribe("0", Want::Frames);
        r.capture_ended("0");
        r.capture_ended("9"); // unknown: ignored
        let again = r.subscribe("0", video(4000));
        let mut old = [pipe_of(&v), pipe_of(&j)];
        old.sort_unstable();
        assert_eq!(
            again.steps,
            vec![
                stop_pipe("0", old[0]),
                stop_pipe("0", old[1]),
                stop_capture("0"),
                start_capture("0"),
                start_video("0", pipe_of(&again), video(4000)),
            ]
        );
        // The old subscriptions belong to the stopped capture: leaving changes nothing.
        for t in [&v.ticket, &j.ticket, &f.ticket] {
            assert!(r.unsubscribe(t).is_empty());
        }
        assert_eq!(r.consumers("0"), 1);
    }

    #[test]
    fn leaving_a_screen_whose_capture_ended_still_stops_it() {
        let mut r = Registry::default();
        let f = r.subscribe("0", Want::Frames);
        r.capture_ended("0");
        assert_eq!(r.unsubscribe(&f.ticket), vec![stop_capture("0")]);
        assert_eq!(
            r.subscribe("0", Want::Frames).steps,
            vec![start_capture("0")]
        );
    }

    #[test]
    fn clear_stops_every_pipe_before_its_capture() {
        let mut r = Registry::default();
        let a = r.subscribe("0", video(4000));
        let b = r.subscribe("1", jpeg(70, 10));
        r.subscribe("1", Want::Frames);
        assert_eq!(
            r.clear(),
            vec![
                stop_pipe("0", pipe_of(&a)),
                stop_capture("0"),
                stop_pipe("1", pipe_of(&b)),
                stop_capture("1"),
            ]
        );
        assert!(r.unsubscribe(&a.ticket).is_empty());
        assert_eq!(r.consumers("1"), 0);
        // Ids are never reused.
        let c = r.subscribe("0", video(4000));
        assert!(pipe_of(&c) > pipe_of(&b));
    }
}
