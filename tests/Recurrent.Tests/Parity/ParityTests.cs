// The parity runner: every *.safetensors fixture in RECURRENT_FIXTURES is one test case,
// dispatched on its metadata `kind` to an IParityHandler found by reflection. A kind with no
// handler yet is reported as skipped with the reason; a fixture without a kind fails.
using System.Reflection;

namespace Recurrent.Tests.Parity;

public class ParityTests
{
    private static readonly Lazy<Dictionary<string, IParityHandler>> Handlers = new(() =>
    {
        var map = new Dictionary<string, IParityHandler>();
        foreach (var t in typeof(ParityTests).Assembly.GetTypes())
        {
            if (t.IsAbstract || t.IsInterface || !typeof(IParityHandler).IsAssignableFrom(t)) continue;
            var h = (IParityHandler)Activator.CreateInstance(t)!;
            foreach (var k in h.Kinds)
                if (!map.TryAdd(k, h)) throw new InvalidOperationException($"two parity handlers for kind {k}");
        }
        return map;
    });

    /// <summary>The placeholder case when the fixture folder is missing: one skipped test with the reason.</summary>
    private const string NoFixtures = "(no fixtures)";

    public static IEnumerable<object[]> Files()
    {
        var dir = TestPaths.Fixtures;
        if (!Directory.Exists(dir)) return [[NoFixtures]];
        return Directory.GetFiles(dir, "*.safetensors").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).Select(n => new object[] { n! });
    }

    [SkippableTheory]
    [MemberData(nameof(Files))]
    public void Fixture(string name)
    {
        var dir = TestPaths.RequireFixtures();
        Assert.NotEqual(NoFixtures, name);                     // the folder appeared after discovery
        var f = FixtureLoader.Load(Path.Combine(dir, name + ".safetensors"));
        Assert.True(f.Meta.ContainsKey("kind"), $"{name}: fixture has no kind");
        // Every kind the fixtures README documents has a handler: a fixture without one fails (it is a gap in
        // our PyTorch coverage, not a reason to skip).
        Assert.True(KnownKinds.Contains(f.Kind), $"{name}: unknown fixture kind '{f.Kind}'");
        Assert.True(Handlers.Value.TryGetValue(f.Kind, out var h), $"{name}: fixture kind '{f.Kind}' has no handler");
        h!.Run(f);
    }

    /// <summary>Every kind documented in the fixtures README.</summary>
    public static readonly HashSet<string> KnownKinds = new()
    {
        "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNCell_chain", "LSTMCell_chain", "GRUCell_chain",
        "train_hello_rnncell", "train_hello_rnn", "train_hello_embedding_rnn",
        "Linear", "Embedding", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MSELoss", "Dropout", "clip_grad_norm_",
        "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
        "SGD", "Adam", "AdamW", "RMSprop",
    };
}
