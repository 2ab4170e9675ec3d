// streamlet-cli probe / transcode: parse, call libstreamlet, format.
#include <csignal>
#include <cstdio>
#include <cxxopts.hpp>
#include <sstream>

#include "command.hpp"
#include "progress.hpp"
#include "streamlet/media.hpp"
#include "streamlet/transcode.hpp"

namespace streamlet::cli {
namespace {

int run_probe(int argc, char** argv) {
  cxxopts::Options opts("streamlet-cli probe", "Describe a media file as JSON");
  opts.add_options()("input", "media file", cxxopts::value<std::string>())("h,help", "help");
  opts.parse_positional({"input"});
  opts.positional_help("INPUT");
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::puts(opts.help().c_str());
      return kExitOk;
    }
    if (!args.count("input")) {
      print_error("probe", "missing INPUT (usage: streamlet-cli probe INPUT)");
      return kExitUsage;
    }
    auto info = media::probe(args["input"].as<std::string>());
    if (!info.ok()) {
      print_error("probe", info.status().to_string());
      return exit_code(info.status());
    }
    std::puts(info->to_json().c_str());
    return kExitOk;
  } catch (const cxxopts::exceptions::exception& e) {
    print_error("probe", e.what());
    return kExitUsage;
  }
}

// SIGINT/SIGTERM cancel the run; the library then removes its partial output.
transcode::CancelToken* g_cancel = nullptr;
extern "C" void on_signal(int) {
  if (g_cancel) g_cancel->cancel();
}

std::string format_progress(const transcode::Progress& p) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1fs %.1f fps %.2fx", p.media_seconds, p.fps, p.speed);
  return buf;
}

int run_transcode(int argc, char** argv) {
  cxxopts::Options opts("streamlet-cli transcode",
                        "Transcode INPUT into an HLS + DASH ladder of CMAF segments in DIR");
  opts.positional_help("INPUT -o DIR");
  // clang-format off
  opts.add_options()
    ("input", "source video file", cxxopts::value<std::string>())
    ("o,output", "output directory (created; replaced only if it is an earlier output)", cxxopts::value<std::string>())
    ("ladder", "rungs, e.g. 1080p,720p,480p or 240p:400k (default 1080p,720p,480p,360p)", cxxopts::value<std::string>())
    ("segment-seconds", "segment duration in seconds", cxxopts::value<double>()->default_value("6"))
    ("keyframe-seconds", "maximum keyframe interval in seconds", cxxopts::value<double>()->default_value("2"))
    ("preset", "x264 preset", cxxopts::value<std::string>()->default_value("veryfast"))
    ("formats", "hls, dash or hls,dash", cxxopts::value<std::string>()->default_value("hls,dash"))
    ("audio-bitrate", "AAC bitrate, e.g. 128k", cxxopts::value<std::string>()->default_value("128k"))
    ("threads", "worker threads (0 = all cores)", cxxopts::value<int>()->default_value("0"))
    ("chunk-seconds", "encode the video in chunks of N seconds side by side (a multiple of --segment-seconds; 0 = no chunking)", cxxopts::value<double>()->default_value("0"))
    ("chunk-workers", "chunks encoded at once (0 = auto)", cxxopts::value<int>()->default_value("0"))
    ("no-poster", "do not write poster.jpg")
    ("quiet", "no progress output")
    ("json", "print the summary as JSON on stdout")
    ("h,help", "help");
  // clang-format on
  opts.parse_positional({"input"});
  cxxopts::ParseResult args;
  try {
    args = opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    print_error("transcode", e.what());
    return kExitUsage;
  }
  if (args.count("help")) {
    std::puts(opts.help().c_str());
    return kExitOk;
  }
  if (!args.count("input") || !args.count("output")) {
    print_error("transcode", "usage: streamlet-cli transcode INPUT -o DIR [options]");
    return kExitUsage;
  }

  transcode::Options options;
  try {
    if (args.count("ladder")) {
      auto ladder = transcode::parse_ladder(args["ladder"].as<std::string>());
      if (!ladder.ok()) {
        print_error("transcode", ladder.status().message());
        return kExitUsage;
      }
      options.ladder = std::move(ladder).value();
    }
    options.segment_seconds = args["segment-seconds"].as<double>();
    options.keyframe_interval_seconds =
        std::min(args["keyframe-seconds"].as<double>(), options.segment_seconds);
    options.preset = args["preset"].as<std::string>();
    options.threads = args["threads"].as<int>();
    options.chunk_seconds = args["chunk-seconds"].as<double>();
    options.chunk_workers = args["chunk-workers"].as<int>();
    options.write_poster = !args.count("no-poster");
    std::string formats = args["formats"].as<std::string>();
    options.write_hls = formats.find("hls") != std::string::npos;
    options.write_dash = formats.find("dash") != std::string::npos;
    std::stringstream fs(formats);
    for (std::string f; std::getline(fs, f, ',');) {
      if (f != "hls" && f != "dash") {
        print_error("transcode", "unknown format '" + f + "' (use hls, dash or hls,dash)");
        return kExitUsage;
      }
    }
    std::string ab = args["audio-bitrate"].as<std::string>();
    auto rung = transcode::parse_ladder("100p:" + ab);  // reuse the bitrate grammar
    if (!rung.ok()) {
      print_error("transcode", "bad --audio-bitrate '" + ab + "'");
      return kExitUsage;
    }
    options.audio_bitrate = rung->front().bitrate;
  } catch (const cxxopts::exceptions::exception& e) {
    print_error("transcode", e.what());
    return kExitUsage;
  }

  const bool quiet = args.count("quiet") > 0;
  ProgressDisplay display("transcode");
  transcode::CancelToken cancel;
  g_cancel = &cancel;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto result = transcode::transcode(
      args["input"].as<std::string>(), args["output"].as<std::string>(), options,
      quiet ? transcode::ProgressCallback{}
            : [&](const transcode::Progress& p) { display.update(p.fraction, format_progress(p)); },
      cancel);
  g_cancel = nullptr;
  if (!result.ok()) {
    print_error("transcode", result.status().to_string());
    return exit_code(result.status());
  }
  if (!quiet) {
    transcode::Progress p;
    p.media_seconds = result->duration_seconds;
    p.fps = result->fps;
    p.speed = result->speed;
    display.finish(format_progress(p));
  }
  if (args.count("json")) {
    std::puts(result->to_json().c_str());
  } else {
    std::printf("output: %s\n", result->output_dir.c_str());
    if (!result->hls_master.empty()) std::printf("hls:    %s\n", result->hls_master.c_str());
    if (!result->dash_manifest.empty()) std::printf("dash:   %s\n", result->dash_manifest.c_str());
    if (!result->poster.empty()) std::printf("poster: %s\n", result->poster.c_str());
    if (result->frame_rate_converted)
      std::printf("frames: variable-rate source resampled to a constant %.3f fps\n",
                  result->frame_rate);
    for (const auto& v : result->video)
      std::printf("  %-6s %4dx%-4d %6.0f kb/s avg %6.0f kb/s peak  %zu segments\n", v.id.c_str(),
                  v.width, v.height, v.average_bitrate / 1000.0, v.peak_bitrate / 1000.0, v.segments);
    if (result->audio)
      std::printf("  audio  %s %6.0f kb/s avg  %zu segments\n", result->audio->codecs.c_str(),
                  result->audio->average_bitrate / 1000.0, result->audio->segments);
    std::printf("%.2f s of video in %.2f s (%.2fx, %.1f fps)\n", result->duration_seconds,
                result->wall_seconds, result->speed, result->fps);
  }
  return kExitOk;
}

RegisterCommand probe_command("probe", {"describe a media file as JSON", run_probe});
RegisterCommand transcode_command("transcode", {"transcode a video into an HLS/DASH ladder", run_transcode});

}  // namespace
}  // namespace streamlet::cli
