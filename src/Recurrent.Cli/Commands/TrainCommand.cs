// `recurrent train`: the options of the training command, mapped onto TrainArguments and the Trainer.
using System.CommandLine;
using Recurrent.Cli.Training;

namespace Recurrent.Cli.Commands;

/// <summary>The <c>train</c> command.</summary>
public static class TrainCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext ctx)
    {
        var t = Trainer.TaskDefaults;
        var f = Trainer.FileDefaults;
        string Def<T>(T? task, T? file) where T : struct => Equals(task, file) ? $"(default: {task})" : $"(default: {task} for the built-in task, {file} with --data)";

        var data = new Option<string?>("--data") { Description = "UTF-8 text file to train on. Without it: the built-in addition task, measured by held-out exact-match accuracy.", HelpName = "FILE" }.NonEmptyPath();
        var output = new Option<string?>("--out") { Description = "Run folder for checkpoints and the loss plot (default: runs/addition, or runs/<file name> with --data; -2, -3, ... appended when taken; with --resume the latest of these).", HelpName = "DIR" }.NonEmptyPath();
        var resume = new Option<bool>("--resume") { Description = "Continue the checkpoint in --out (same data; losses match an uninterrupted run with the same thread count)." };
        var model = new Option<string?>("--model") { Description = "Recurrent layer: lstm, gru or rnn (default: lstm).", HelpName = "KIND" };
        model.AcceptOnlyFromAmong("lstm", "gru", "rnn", "LSTM", "GRU", "RNN");
        var emb = new Option<int?>("--embedding-size") { Description = $"Embedding width {Def(t.EmbeddingSize, f.EmbeddingSize)}.", HelpName = "N" };
        var hidden = new Option<int?>("--hidden-size") { Description = $"Hidden units per layer {Def(t.HiddenSize, f.HiddenSize)}.", HelpName = "N" };
        var layers = new Option<int?>("--layers") { Description = $"Recurrent layers {Def(t.Layers, f.Layers)}.", HelpName = "N" };
        var dropout = new Option<double?>("--dropout") { Description = $"Dropout between layers and on the recurrent output, in [0, 1) {Def(t.Dropout, f.Dropout)}.", HelpName = "P" };
        var seqLen = new Option<int?>("--seq-len") { Description = $"Characters per training window {Def(t.SeqLen, f.SeqLen)}.", HelpName = "N" };
        var batch = new Option<int?>("--batch-size") { Description = $"Windows per step {Def(t.BatchSize, f.BatchSize)}.", HelpName = "N" };
        var optimizer = new Option<string?>("--optimizer") { Description = "adam, adamw, sgd (momentum 0.9) or rmsprop (default: adam).", HelpName = "NAME" };
        optimizer.AcceptOnlyFromAmong("adam", "adamw", "sgd", "rmsprop");
        var lr = new Option<double?>("--lr") { Description = $"Learning rate {Def(t.LearningRate, f.LearningRate)}.", HelpName = "X" };
        var schedule = new Option<string?>("--lr-schedule") { Description = "constant, or cosine: after the warm-up the rate falls along half a cosine from --lr to 0 at --steps (default: constant).", HelpName = "NAME" };
        schedule.AcceptOnlyFromAmong("constant", "cosine");
        var warmup = new Option<long?>("--warmup-steps") { Description = "Raise the rate linearly from --lr/N to --lr over the first N steps (default: 0).", HelpName = "N" };
        var wd = new Option<double?>("--weight-decay") { Description = "Weight decay (default: 0).", HelpName = "X" };
        var clip = new Option<double?>("--clip") { Description = $"Clip the gradient norm to this; 0 = no clipping, the norm is still logged {Def(t.Clip, f.Clip)}.", HelpName = "X" };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of the initial weights, data order and dropout (default: 1).", HelpName = "N" };
        var threads = new Option<int?>("--threads") { Description = $"Compute threads (default: all {Environment.ProcessorCount} cores). Same seed and threads give the same losses.", HelpName = "N" };
        var steps = new Option<long?>("--steps") { Description = $"Total training steps {Def(t.Steps, f.Steps)}.", HelpName = "N" };
        var minutes = new Option<double?>("--minutes") { Description = "Stop after this many minutes (and save); 0 = no limit (default).", HelpName = "M" };
        var evalEvery = new Option<int?>("--eval-every") { Description = $"Validation loss (and accuracy) every N steps {Def(t.EvalEvery, f.EvalEvery)}.", HelpName = "N" };
        var ckEvery = new Option<int?>("--checkpoint-every") { Description = $"Save a checkpoint every N steps, besides the end and Ctrl+C {Def(t.CheckpointEvery, f.CheckpointEvery)}.", HelpName = "N" };
        var logEvery = new Option<int?>("--log-every") { Description = $"Progress line every N steps when the output is not a terminal {Def(t.LogEvery, f.LogEvery)}.", HelpName = "N" };
        var valFraction = new Option<double?>("--val-fraction") { Description = $"Fraction of --data held out for validation (default: {f.ValFraction}).", HelpName = "X" };
        var valChars = new Option<int?>("--val-chars") { Description = $"Evaluate at most this many validation characters {Def(t.ValChars, f.ValChars)}.", HelpName = "N" };
        var stopNonFinite = new Option<bool>("--stop-on-nonfinite") { Description = "Stop when the gradients are not finite (default: skip that step and count it)." };
        var target = new Option<double?>("--target-accuracy") { Description = $"Built-in task: stop once the held-out accuracy reaches this; 0 = never (default: {t.TargetAccuracy}).", HelpName = "X" };
        var digits = new Option<int?>("--digits") { Description = $"Built-in task: digits per operand, 1 to 6 (default: {t.Digits}).", HelpName = "N" };

        var cmd = new Command("train", "Train a character-level language model (Embedding -> LSTM/GRU/RNN -> Linear). Ctrl+C saves a checkpoint and exits.")
        {
            data, output, resume, model, emb, hidden, layers, dropout, seqLen, batch, optimizer, lr, schedule, warmup, wd, clip, seed, threads,
            steps, minutes, evalEvery, ckEvery, logEvery, valFraction, valChars, stopNonFinite, target, digits,
        };
        cmd.SetAction(pr =>
        {
            var args = new TrainArguments
            {
                Data = pr.GetValue(data), Out = pr.GetValue(output), Resume = pr.GetValue(resume), Model = pr.GetValue(model),
                EmbeddingSize = pr.GetValue(emb), HiddenSize = pr.GetValue(hidden), Layers = pr.GetValue(layers),
                Dropout = pr.GetValue(dropout), SeqLen = pr.GetValue(seqLen), BatchSize = pr.GetValue(batch),
                Optimizer = pr.GetValue(optimizer), LearningRate = pr.GetValue(lr), LrSchedule = pr.GetValue(schedule),
                WarmupSteps = pr.GetValue(warmup), WeightDecay = pr.GetValue(wd),
                Clip = pr.GetValue(clip), Seed = pr.GetValue(seed), Threads = pr.GetValue(threads), Steps = pr.GetValue(steps),
                Minutes = pr.GetValue(minutes), EvalEvery = pr.GetValue(evalEvery), CheckpointEvery = pr.GetValue(ckEvery),
                LogEvery = pr.GetValue(logEvery), ValFraction = pr.GetValue(valFraction), ValChars = pr.GetValue(valChars),
                StopOnNonFinite = pr.GetResult(stopNonFinite) is { Implicit: false } ? pr.GetValue(stopNonFinite) : null,
                TargetAccuracy = pr.GetValue(target), Digits = pr.GetValue(digits),
            };
            return Trainer.Run(args, ctx).ExitCode;
        });
        return cmd;
    }
}
