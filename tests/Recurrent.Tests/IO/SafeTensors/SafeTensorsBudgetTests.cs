// The safetensors reader's allocations stay linear in the file, under ReadBudget's default, even for the
// header with the most objects per byte: nothing but empty tensors.
using System.Text;
using Recurrent.IO;

namespace Recurrent.Tests.IO.SafeTensors;

public class SafeTensorsBudgetTests
{
    [Fact]
    public void AHeaderOfEmptyTensorsCostsLessThanTheDefaultBudgetPerByte()
    {
        var json = new StringBuilder("{");
        for (int i = 0; i < 50_000; i++)
            json.Append(i == 0 ? "" : ",").Append("\"t").Append(i).Append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        byte[] file = Fuzz.CorpusBuilders.SafeTensorsHeader(json.Append('}').ToString());
        TensorIO.ReadTensors(new MemoryStream(file), out _); // warm: JIT and the JSON parser's pooled buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        var tensors = TensorIO.ReadTensors(new MemoryStream(file), out _);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(50_000, tensors.Count);
        // Per file byte, without the budget's constant: what a file of any size would cost. About 19 (the JSON
        // parser's token buffers, names, entries, then Tensors); building messages eagerly made it 35. The limit
        // sits between, and under the default budget's 32.
        Assert.True(ReadBudget.DefaultBytesPerFileByte >= 32);
        Assert.True(allocated < 24L * file.Length,
            $"{allocated} bytes for a {file.Length}-byte file: {(double)allocated / file.Length:F1} per byte");
    }
}
