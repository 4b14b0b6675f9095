// The serving sample end to end, in-process (WebApplicationFactory): a tiny model trained here, then 1,000
// concurrent requests to /generate and /predict whose answers must equal direct, serial calls of the library on a
// separately loaded copy of the checkpoint: Sampler.Generate for the text, the model's Forward and Softmax for the
// probabilities (the JSON round trip of a float is exact).
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Recurrent.Cli;
using Recurrent.Cli.Checkpoints;
using Recurrent.Cli.Model;
using Recurrent.Cli.Training;
using Recurrent.Serving;

namespace Recurrent.Serving.Tests;

/// <summary>A tiny checkpoint trained for these tests (a few steps: the weights only need to be non-trivial).</summary>
public sealed class TinyModelFixture : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("recurrent-serving-").FullName;

    public string Run => Path.Combine(Folder, "run");

    public TinyModelFixture()
    {
        string[] words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "hat", "it", "was"];
        var g = new Generator(3);
        var text = new StringBuilder();
        while (text.Length < 3000)
        {
            for (int i = 0; i < 6; i++) text.Append(i == 0 ? "" : " ").Append(words[g.NextLong(words.Length)]);
            text.Append(".\n");
        }
        string data = Path.Combine(Folder, "corpus.txt");
        File.WriteAllText(data, text.ToString());
        var args = new TrainArguments
        {
            Data = data, Out = Run, Model = "lstm", HiddenSize = 32, EmbeddingSize = 8, Layers = 2, SeqLen = 16, BatchSize = 8,
            Steps = 25, EvalEvery = 25, LogEvery = 100, LearningRate = 0.01,
        };
        var outcome = Trainer.Run(args, new CliContext(new StringWriter(), new StringWriter()));
        if (outcome.Reason != StopReason.StepsDone) throw new InvalidOperationException($"training the test model stopped: {outcome.Reason}");
    }

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

public sealed class ServingTests(TinyModelFixture fx) : IClassFixture<TinyModelFixture>
{
    private WebApplicationFactory<Program> Factory() =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseSetting("Model:Path", fx.Run).UseSetting("Logging:LogLevel:Default", "Warning"));

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task ThousandConcurrentRequests_EqualDirectSerialCalls()
    {
        await using var factory = Factory();
        using var client = factory.CreateClient();

        // The reference: the checkpoint loaded again, called directly, one request after another.
        var ck = CharLmCheckpoint.Load(fx.Run);
        var model = ck.BuildModel();
        var vocab = ck.Vocabulary;
        string[] prompts = ["the ", "a", "cat sat on ", "\n", "it was the big red hat and the dog ran to a mat. "];

        var requests = new List<(string Path, string Body, Func<string, bool> Check, string Expected)>();
        for (int i = 0; i < 1000; i++)
        {
            string prompt = prompts[i % prompts.Length];
            if (i % 2 == 0)
            {
                // /generate; every fourth request omits length, temperature, topK and seed: the documented defaults apply.
                bool defaults = i % 4 == 0;
                int length = defaults ? 200 : 5 + i % 40;
                double temperature = defaults ? 0.8 : (i % 3) * 0.6;
                int topK = defaults ? 0 : i % 5;
                ulong seed = defaults ? 1 : (ulong)(i / 10);
                string body = defaults
                    ? $$"""{"prompt":{{System.Text.Json.JsonSerializer.Serialize(prompt)}}}"""
                    : $$"""{"prompt":{{System.Text.Json.JsonSerializer.Serialize(prompt)}},"length":{{length}},"temperature":{{temperature.ToString(System.Globalization.CultureInfo.InvariantCulture)}},"topK":{{topK}},"seed":{{seed}}}""";
                string expected = vocab.Decode(Sampler.Generate(model, vocab.Encode(prompt), length, temperature, topK, new Generator(seed)));
                requests.Add(("/generate", body, json =>
                {
                    var r = System.Text.Json.JsonSerializer.Deserialize(json, ServingJson.Default.GenerateResponse)!;
                    return r.Text == expected && r.Prompt == prompt && r.Tokens == length && r.Seed == seed;
                }, expected));
            }
            else
            {
                // /predict, by text or by ids.
                long[] ids = vocab.Encode(prompt[..(1 + i % prompt.Length)]);
                float[] expected;
                using (new NoGrad())
                {
                    var (logits, _) = model.Forward(Tensor.FromArray(ids, ids.Length, 1));
                    expected = logits.Select(0, ids.Length - 1).Select(0, 0).Softmax(0).ToArray<float>();
                }
                int argmax = Array.IndexOf(expected, expected.Max());
                string body = i % 3 == 0
                    ? $$"""{"ids":[{{string.Join(",", ids)}}]}"""
                    : $$"""{"text":{{System.Text.Json.JsonSerializer.Serialize(vocab.Decode(ids))}}}""";
                requests.Add(("/predict", body, json =>
                {
                    var r = System.Text.Json.JsonSerializer.Deserialize(json, ServingJson.Default.PredictResponse)!;
                    return r.Probabilities.AsSpan().SequenceEqual(expected) && r.Argmax == argmax && r.Token == vocab[argmax];
                }, string.Join(",", expected)));
            }
        }
        Assert.Contains(requests, r => r.Path == "/generate" && r.Expected.Distinct().Count() > 3);   // warm samples vary

        // All at once.
        using var go = new ManualResetEventSlim();
        var tasks = requests.Select(r => Task.Run(async () =>
        {
            go.Wait();
            using var response = await client.PostAsync(r.Path, Json(r.Body));
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        })).ToArray();
        go.Set();
        var answers = await Task.WhenAll(tasks);

        var wrong = new List<string>();
        for (int i = 0; i < requests.Count; i++)
            if (answers[i].StatusCode != HttpStatusCode.OK || !requests[i].Check(answers[i].Body))
                wrong.Add($"{requests[i].Path} {requests[i].Body} -> {(int)answers[i].StatusCode} {answers[i].Body}");
        Assert.True(wrong.Count == 0, $"{wrong.Count} of {requests.Count} answers differ from direct calls; first: {wrong.FirstOrDefault()}");
    }

    [Fact]
    public async Task BadRequests_AreRefusedWithTheReason()
    {
        await using var factory = Factory();
        using var client = factory.CreateClient();
        async Task<string> Refused(string path, string body)
        {
            using var response = await client.PostAsync(path, Json(body));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync(ServingJson.Default.ErrorResponse))!.Error;
        }
        Assert.Contains("'Z' (U+005A)", await Refused("/generate", """{"prompt":"Zebra"}"""));
        Assert.Contains("length: expected 0 to 4096, got -1", await Refused("/generate", """{"prompt":"a","length":-1}"""));
        Assert.Contains("temperature", await Refused("/generate", """{"temperature":-0.5}"""));
        Assert.Contains("exactly one of text or ids", await Refused("/predict", """{}"""));
        Assert.Contains("expected ids in [0,", await Refused("/predict", """{"ids":[0,9999]}"""));
        Assert.Contains("1 to 4096 characters, got 0", await Refused("/predict", """{"text":""}"""));
        // Refused from its length alone, before it is encoded (the check came after encoding: 232 MB of ids for a 29 MB text).
        Assert.Contains("1 to 4096 characters, got at least 5000", await Refused("/predict", "{\"text\":\"" + new string('Z', 10_000) + "\"}"));
        Assert.Contains("1 to 4096 characters, got 4097", await Refused("/predict", "{\"text\":\"" + new string('a', 4097) + "\"}"));
    }

    [Fact]
    public async Task Info_DescribesTheLoadedCheckpoint()
    {
        await using var factory = Factory();
        using var client = factory.CreateClient();
        var info = await client.GetFromJsonAsync("/", ServingJson.Default.ModelInfo);
        Assert.NotNull(info);
        Assert.Equal("lstm", info.Kind);
        Assert.Equal(2, info.Layers);
        Assert.Equal(32, info.HiddenSize);
        Assert.Equal(25, info.Step);
        Assert.Equal(CharLmCheckpoint.Load(fx.Run).Vocabulary.Count, info.VocabSize);
    }

    [Fact]
    public void WithoutAModelPath_StartupFailsWithTheFix()
    {
        using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseSetting("Model:Path", ""));
        var e = Assert.Throws<InvalidOperationException>(() => factory.CreateClient());
        Assert.Contains("Model:Path", e.Message);
    }
}
